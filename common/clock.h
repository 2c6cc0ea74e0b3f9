// CLOCK_MONOTONIC in nanoseconds: the one clock of the emulated devices'
// transition log, the data plane and the engine's downtime measurements, so
// that timestamps from different processes on one host compare.
#ifndef VMIGD_COMMON_CLOCK_H_
#define VMIGD_COMMON_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace vmig {

inline int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace vmig

#endif  // VMIGD_COMMON_CLOCK_H_
