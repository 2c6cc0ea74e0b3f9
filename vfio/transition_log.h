// Every arc every device in this process takes (emulated devices arc by
// arc; kernel devices each request, which the kernel may walk as several
// arcs), with timestamps, in one log, so that tests can check ordering across
// devices (the lockstep invariants of a multi-device switchover).
#ifndef VMIGD_VFIO_TRANSITION_LOG_H_
#define VMIGD_VFIO_TRANSITION_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "vfio/state.h"

namespace vmig::vfio {

struct ArcRecord {
  std::string device;
  DeviceState from;
  DeviceState to;
  int64_t start_ns;  // CLOCK_MONOTONIC when the arc began
  int64_t end_ns;    // ... and when the device was in `to` (or failed)
  bool ok;           // false: the arc failed (the device went to ERROR)
  bool reset;        // true: VFIO_DEVICE_RESET, not an arc of the FSM
};

class TransitionLog {
 public:
  // The process-wide log shared by all devices.
  static TransitionLog& Global();

  explicit TransitionLog(size_t capacity = 1 << 16) : capacity_(capacity) {}

  void Record(ArcRecord r);
  // Also hands every record to `sink` as it is recorded (e.g. to append it
  // to a file that tests read across processes). Null removes it.
  void SetSink(std::function<void(const ArcRecord&)> sink);
  std::vector<ArcRecord> Snapshot() const;
  void Clear();
  // Records dropped because the log was full (the oldest go first).
  uint64_t dropped() const;

 private:
  const size_t capacity_;
  // A std::mutex, not absl::Mutex: devices' arcs run on the threads of a
  // DeviceGroup that meet only here, and ThreadSanitizer sees pthread
  // mutexes but not Debian's Abseil, which is not built for it (the TSan
  // gate reported this log's deque as raced).
  mutable std::mutex mu_;
  std::deque<ArcRecord> records_;               // guarded by mu_
  uint64_t dropped_ = 0;                        // guarded by mu_
  std::function<void(const ArcRecord&)> sink_;  // guarded by mu_
};

// The log's clock (and the emulation's).
using ::vmig::MonotonicNanos;

}  // namespace vmig::vfio

#endif  // VMIGD_VFIO_TRANSITION_LOG_H_
