#include "bench/baselines.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "vfio/emu/emu_device.h"

namespace vmig::bench {
namespace {

constexpr size_t kChunk = 1 << 20;

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

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

absl::StatusOr<TcpResult> TcpLoopbackCopy(int streams, uint64_t bytes,
                                          int connections) {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
          0 ||
      listen(listener.get(), connections) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) !=
          0) {
    return absl::ErrnoToStatus(errno, "TCP baseline: listen");
  }
  const uint64_t per = bytes / streams;
  std::vector<std::unique_ptr<vfio::emu::EmuDevice>> src, dst;
  std::vector<std::unique_ptr<vfio::DataSession>> out, in;
  for (int i = 0; i < streams; ++i) {
    src.push_back(std::move(*vfio::emu::EmuDevice::Create(
        absl::StrCat("emu:name=tsrc", i, ",state=", per, ",seed=", 100 + i))));
    dst.push_back(std::move(*vfio::emu::EmuDevice::Create(
        absl::StrCat("emu:name=tdst", i, ",state=", per, ",seed=", 900 + i))));
    out.push_back(
        std::move(*src.back()->SetState(vfio::DeviceState::kStopCopy)));
    in.push_back(
        std::move(*dst.back()->SetState(vfio::DeviceState::kResuming)));
  }
  std::vector<UniqueFd> client, server;
  for (int c = 0; c < connections; ++c) {
    client.emplace_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (connect(client.back().get(), reinterpret_cast<sockaddr*>(&addr),
                sizeof(addr)) != 0) {
      return absl::ErrnoToStatus(errno, "TCP baseline: connect");
    }
    server.emplace_back(
        accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }
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
          if (send(client[c].get(), &n, sizeof(n), MSG_NOSIGNAL) != sizeof(n))
            failed = true;
          for (size_t off = 0; off < n && !failed;) {
            ssize_t k =
                send(client[c].get(), buf.data() + off, n - off, MSG_NOSIGNAL);
            if (k <= 0) failed = true;
            off += k > 0 ? static_cast<size_t>(k) : 0;
          }
        }
        const uint64_t end = 0;  // this device's stream is complete
        if (send(client[c].get(), &end, sizeof(end), MSG_NOSIGNAL) !=
            sizeof(end))
          failed = true;
      }
    });
    threads.emplace_back([&, c] {
      std::vector<uint8_t> buf(kChunk);
      auto recv_all = [&](void* p, size_t n) {
        for (size_t off = 0; off < n;) {
          ssize_t k =
              recv(server[c].get(), static_cast<uint8_t*>(p) + off, n - off, 0);
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
  result.bytes_per_second = static_cast<double>(per * streams) / Seconds(start);
  result.verified = !failed;
  for (int i = 0; i < streams; ++i) {
    in[i].reset();
    result.verified = result.verified &&
                      dst[i]->SetState(vfio::DeviceState::kStop).ok() &&
                      dst[i]->StateDigest() == src[i]->StateDigest();
  }
  return result;
}

}  // namespace vmig::bench
