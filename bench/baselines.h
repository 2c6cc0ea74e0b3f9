// Baselines measured in the same run as a benchmark, so that figures are
// ratios rather than absolute numbers on a shared, noisy machine.
#ifndef VMIGD_BENCH_BASELINES_H_
#define VMIGD_BENCH_BASELINES_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace vmig::bench {

// One core copying `bytes` in 1 MiB chunks out of a 256 MiB buffer.
double MemcpyBytesPerSecond(uint64_t bytes);

struct TcpResult {
  double bytes_per_second = 0;
  bool verified = false;
};
// The same bytes from emulated source devices (STOP_COPY) into emulated
// RESUMING devices over kernel TCP loopback, one connection per stream with
// a sending and a receiving thread each: the way QEMU's migration channels
// move data. Verified by digest.
absl::StatusOr<TcpResult> TcpLoopbackCopy(int streams, uint64_t bytes);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_BASELINES_H_
