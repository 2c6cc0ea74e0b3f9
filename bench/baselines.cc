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

absl::StatusOr<TcpResult> TcpLoopbackCopy(int streams, uint64_t bytes) {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
          0 ||
      listen(listener.get(), streams) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) !=
          0) {
    return absl::ErrnoToStatus(errno, "TCP baseline: listen");
  }
  const uint64_t per = bytes / streams;
  std::vector<std::unique_ptr<vfio::emu::EmuDevice>> src, dst;
  std::vector<std::unique_ptr<vfio::DataSession>> out, in;
  std::vector<UniqueFd> client, server;
  for (int i = 0; i < streams; ++i) {
    src.push_back(std::move(*vfio::emu::EmuDevice::Create(
        absl::StrCat("emu:name=tsrc", i, ",state=", per, ",seed=", 100 + i))));
    dst.push_back(std::move(*vfio::emu::EmuDevice::Create(
        absl::StrCat("emu:name=tdst", i, ",state=", per, ",seed=", 900 + i))));
    out.push_back(
        std::move(*src.back()->SetState(vfio::DeviceState::kStopCopy)));
    in.push_back(
        std::move(*dst.back()->SetState(vfio::DeviceState::kResuming)));
    client.emplace_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (connect(client.back().get(), reinterpret_cast<sockaddr*>(&addr),
                sizeof(addr)) != 0) {
      return absl::ErrnoToStatus(errno, "TCP baseline: connect");
    }
    server.emplace_back(
        accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < streams; ++i) {
    threads.emplace_back([&, i] {
      std::vector<uint8_t> buf(kChunk);
      for (;;) {
        auto r = out[i]->Read(absl::MakeSpan(buf));
        if (!r.ok()) {
          failed = true;
          break;
        }
        if (r->outcome == vfio::ReadOutcome::kEndOfStream) break;
        for (size_t off = 0; off < r->bytes;) {
          ssize_t n = send(client[i].get(), buf.data() + off, r->bytes - off,
                           MSG_NOSIGNAL);
          if (n <= 0) {
            failed = true;
            return;
          }
          off += static_cast<size_t>(n);
        }
      }
      shutdown(client[i].get(), SHUT_WR);
    });
    threads.emplace_back([&, i] {
      std::vector<uint8_t> buf(kChunk);
      for (;;) {
        ssize_t n = recv(server[i].get(), buf.data(), buf.size(), 0);
        if (n < 0) failed = true;
        if (n <= 0) break;
        if (!vfio::WriteAll(*in[i], absl::MakeConstSpan(buf.data(),
                                                        static_cast<size_t>(n)))
                 .ok()) {
          failed = true;
          break;
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
