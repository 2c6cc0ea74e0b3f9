// Baselines measured in the same run as a benchmark, so that figures are
// ratios rather than absolute numbers on a shared, noisy machine.
#ifndef VMIGD_BENCH_BASELINES_H_
#define VMIGD_BENCH_BASELINES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vfio/device.h"
#include "vfio/emu/emu_device.h"

namespace vmig::bench {

// What every baseline moves: `bytes` over `streams` emulated source devices
// in STOP_COPY (their data sessions in `out`) into as many RESUMING ones
// (`in`), the same devices and seeds in each baseline.
struct BaselineDevices {
  uint64_t per_stream = 0;
  std::vector<std::unique_ptr<vfio::emu::EmuDevice>> src, dst;
  std::vector<std::unique_ptr<vfio::DataSession>> out, in;
  // Ends the destinations' sessions and compares every state digest.
  bool Verify();
};
absl::StatusOr<BaselineDevices> MakeBaselineDevices(int streams,
                                                    uint64_t bytes);

// One core copying `bytes` in 1 MiB chunks out of a 256 MiB buffer.
double MemcpyBytesPerSecond(uint64_t bytes);

struct TcpResult {
  double bytes_per_second = 0;
  bool verified = false;
  // kKtls: whether the kernel took the records over on every connection
  // (false: the kernel does not offer kTLS, and the run was user-space TLS).
  bool ktls = false;
};

// What the TCP baseline carries: plain bytes, TLS 1.3 AES-256-GCM records
// sealed by OpenSSL in user space, or the same with kTLS asked for.
enum class TcpSecurity { kPlain, kTls, kKtls };
// Where the TCP baseline's two ends live: both on loopback (empty), or the
// receiver in network namespace `server_netns` listening on `server_ipv4`
// and the senders in `client_netns`: the path a cross-host benchmark's own
// transport takes (a veth pair between two namespaces).
struct TcpPath {
  std::string server_netns, client_netns, server_ipv4;
  bool loopback() const { return server_netns.empty(); }
};

// The same bytes from emulated source devices (STOP_COPY) into emulated
// RESUMING devices over kernel TCP on `path`, verified by digest.
// connections == 1: QEMU's migration channel, one connection with one
// sending and one receiving thread carrying the devices one after another.
// connections == streams: one connection per device, as multifd does.
// With TLS, each connection handshakes before the clock starts, as a
// migration's channels do before it streams.
absl::StatusOr<TcpResult> TcpCopy(int streams, uint64_t bytes, int connections,
                                  TcpSecurity security = TcpSecurity::kPlain,
                                  const TcpPath& path = {});

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_BASELINES_H_
