#include "bench/baselines.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/tls_channel.h"
#include "common/unique_fd.h"
#include "vfio/emu/emu_device.h"

namespace vmig::bench {
namespace {

constexpr size_t kChunk = 1 << 20;

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// Makes a socket in network namespace `netns` (empty: this thread's own):
// a socket stays in the namespace it was made in, whatever its user's.
absl::StatusOr<UniqueFd> SocketIn(const std::string& netns) {
  if (netns.empty())
    return UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  UniqueFd home(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  UniqueFd there(
      open(("/var/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC));
  if (home.get() < 0 || there.get() < 0 ||
      setns(there.get(), CLONE_NEWNET) != 0) {
    return absl::ErrnoToStatus(
        errno, "TCP baseline: enter network namespace " + netns);
  }
  UniqueFd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int err = errno;
  if (setns(home.get(), CLONE_NEWNET) != 0) {
    return absl::ErrnoToStatus(errno, "TCP baseline: leave " + netns);
  }
  if (s.get() < 0) return absl::ErrnoToStatus(err, "TCP baseline: socket");
  return s;
}

}  // namespace

absl::StatusOr<BaselineDevices> MakeBaselineDevices(int streams,
                                                    uint64_t bytes) {
  BaselineDevices d;
  d.per_stream = bytes / streams;
  for (int i = 0; i < streams; ++i) {
    absl::StatusOr<std::unique_ptr<vfio::emu::EmuDevice>> src =
        vfio::emu::EmuDevice::Create(absl::StrCat(
            "emu:name=tsrc", i, ",state=", d.per_stream, ",seed=", 100 + i));
    if (!src.ok()) return src.status();
    absl::StatusOr<std::unique_ptr<vfio::emu::EmuDevice>> dst =
        vfio::emu::EmuDevice::Create(absl::StrCat(
            "emu:name=tdst", i, ",state=", d.per_stream, ",seed=", 900 + i));
    if (!dst.ok()) return dst.status();
    absl::StatusOr<std::unique_ptr<vfio::DataSession>> out =
        (*src)->SetState(vfio::DeviceState::kStopCopy);
    if (!out.ok()) return out.status();
    absl::StatusOr<std::unique_ptr<vfio::DataSession>> in =
        (*dst)->SetState(vfio::DeviceState::kResuming);
    if (!in.ok()) return in.status();
    d.src.push_back(*std::move(src));
    d.dst.push_back(*std::move(dst));
    d.out.push_back(*std::move(out));
    d.in.push_back(*std::move(in));
  }
  return d;
}

bool BaselineDevices::Verify() {
  bool ok = true;
  for (size_t i = 0; i < dst.size(); ++i) {
    in[i].reset();
    ok = ok && dst[i]->SetState(vfio::DeviceState::kStop).ok() &&
         dst[i]->StateDigest() == src[i]->StateDigest();
  }
  return ok;
}

double MemcpyBytesPerSecond(uint64_t bytes) {
  constexpr size_t kBuf = 256 << 20;
  std::vector<uint8_t> src(kBuf, 1), dst(kChunk);
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t done = 0; done < bytes; done += kChunk) {
    std::memcpy(dst.data(), src.data() + done % kBuf, kChunk);
    asm volatile("" : : "r"(dst.data()) : "memory");
  }
  return static_cast<double>(bytes) / Seconds(start);
}

absl::StatusOr<TcpResult> TcpCopy(int streams, uint64_t bytes, int connections,
                                  TcpSecurity security, const TcpPath& path) {
  absl::StatusOr<UniqueFd> made = SocketIn(path.server_netns);
  if (!made.ok()) return made.status();
  UniqueFd listener = std::move(*made);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!path.loopback() &&
      inet_pton(AF_INET, path.server_ipv4.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError("TCP baseline: bad server address " +
                                      path.server_ipv4);
  }
  socklen_t len = sizeof(addr);
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
          0 ||
      listen(listener.get(), connections) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) !=
          0) {
    return absl::ErrnoToStatus(errno, "TCP baseline: listen");
  }
  absl::StatusOr<BaselineDevices> devices = MakeBaselineDevices(streams, bytes);
  if (!devices.ok()) return devices.status();
  std::vector<std::unique_ptr<vfio::DataSession>>& out = devices->out;
  std::vector<std::unique_ptr<vfio::DataSession>>& in = devices->in;
  std::vector<UniqueFd> client, server;
  for (int c = 0; c < connections; ++c) {
    absl::StatusOr<UniqueFd> end = SocketIn(path.client_netns);
    if (!end.ok()) return end.status();
    client.push_back(std::move(*end));
    if (connect(client.back().get(), reinterpret_cast<sockaddr*>(&addr),
                sizeof(addr)) != 0) {
      return absl::ErrnoToStatus(errno, "TCP baseline: connect");
    }
    server.emplace_back(
        accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }
  std::unique_ptr<TlsContexts> tls;
  std::vector<SslPtr> tls_client, tls_server;
  bool ktls = security == TcpSecurity::kKtls;
  if (security != TcpSecurity::kPlain) {
    absl::StatusOr<std::unique_ptr<TlsContexts>> t =
        TlsContexts::Create(security == TcpSecurity::kKtls);
    if (!t.ok()) return t.status();
    tls = std::move(*t);
    for (int c = 0; c < connections; ++c) {
      auto ends = tls->Connect(client[c].get(), server[c].get());
      if (!ends.ok()) return ends.status();
      ktls = ktls && KtlsActive(ends->first.get()) &&
             KtlsActive(ends->second.get());
      tls_client.push_back(std::move(ends->first));
      tls_server.push_back(std::move(ends->second));
    }
  }
  // One write or read on connection c's end, plain or through TLS: the
  // bytes it moved, <= 0 on failure.
  auto put = [&](int c, const void* p, size_t n) -> ssize_t {
    if (tls) return SSL_write(tls_client[c].get(), p, static_cast<int>(n));
    return send(client[c].get(), p, n, MSG_NOSIGNAL);
  };
  auto get = [&](int c, void* p, size_t n) -> ssize_t {
    if (tls) return SSL_read(tls_server[c].get(), p, static_cast<int>(n));
    return recv(server[c].get(), p, n, 0);
  };
  // Connection c carries devices c, c + connections, ...; each device's
  // stream is framed by its length so that one connection can carry several.
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      std::vector<uint8_t> buf(kChunk);
      for (int i = c; i < streams && !failed; i += connections) {
        for (;;) {
          auto r = out[i]->Read(absl::MakeSpan(buf));
          if (!r.ok()) failed = true;
          if (!r.ok() || r->outcome == vfio::ReadOutcome::kEndOfStream) break;
          const uint64_t n = r->bytes;
          if (put(c, &n, sizeof(n)) != sizeof(n)) failed = true;
          for (size_t off = 0; off < n && !failed;) {
            const ssize_t k = put(c, buf.data() + off, n - off);
            if (k <= 0) failed = true;
            off += k > 0 ? static_cast<size_t>(k) : 0;
          }
        }
        const uint64_t end = 0;  // this device's stream is complete
        if (put(c, &end, sizeof(end)) != sizeof(end)) failed = true;
      }
    });
    threads.emplace_back([&, c] {
      std::vector<uint8_t> buf(kChunk);
      auto recv_all = [&](void* p, size_t n) {
        for (size_t off = 0; off < n;) {
          const ssize_t k = get(c, static_cast<uint8_t*>(p) + off, n - off);
          if (k <= 0) return false;
          off += static_cast<size_t>(k);
        }
        return true;
      };
      for (int i = c; i < streams && !failed; i += connections) {
        for (;;) {
          uint64_t n = 0;
          if (!recv_all(&n, sizeof(n)) || n > kChunk) {
            failed = true;
            return;
          }
          if (n == 0) break;
          if (!recv_all(buf.data(), n) ||
              !vfio::WriteAll(*in[i], absl::MakeConstSpan(buf.data(), n))
                   .ok()) {
            failed = true;
            return;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  TcpResult result;
  result.bytes_per_second =
      static_cast<double>(devices->per_stream * streams) / Seconds(start);
  result.verified = !failed && devices->Verify();
  result.ktls = ktls;
  return result;
}

}  // namespace vmig::bench
