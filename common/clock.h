// Clocks. MonotonicNanos() is CLOCK_MONOTONIC in nanoseconds: the one clock
// of the emulated devices' transition log, the data plane and the engine's
// downtime measurements, so that timestamps from different processes on one
// host compare. Clock is what the migration engine reads time through, so
// that tests can give it a clock of their own.
#ifndef VMIGD_COMMON_CLOCK_H_
#define VMIGD_COMMON_CLOCK_H_

#include <time.h>

#include <cstdint>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace vmig {

inline int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  virtual void SleepFor(absl::Duration d) = 0;
  // Sleeps `d`, or less: the real clock wakes once `wake` is notified. (A
  // test's clock may sleep its whole step unless notified before.)
  virtual void SleepUntilWoken(absl::Duration d,
                               const absl::Notification& wake) {
    if (!wake.HasBeenNotified()) SleepFor(d);
  }

  // The system's clock; lives as long as the process.
  static Clock& Real();
};

class RealClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepFor(absl::Duration d) override { absl::SleepFor(d); }
  void SleepUntilWoken(absl::Duration d,
                       const absl::Notification& wake) override {
    (void)wake.WaitForNotificationWithTimeout(d);
  }
};

inline Clock& Clock::Real() {
  static RealClock* const clock = new RealClock();
  return *clock;
}

}  // namespace vmig

#endif  // VMIGD_COMMON_CLOCK_H_
