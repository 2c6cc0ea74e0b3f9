// A line of sessions waiting for one of a bounded number of slots
// (limits.max_outgoing_sessions): first come, first served. A source
// session's engine joins at its start, waits for its turn on its own
// thread (its record says PHASE_QUEUED and its place meanwhile), and gives
// the slot back when it ends. Waiting ends on the turn, a cancel, or a
// daemon that stops; every change wakes the waiters (no polling).
#ifndef VMIGD_DAEMON_ADMISSION_QUEUE_H_
#define VMIGD_DAEMON_ADMISSION_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace vmig::daemon {

class AdmissionQueue {
 public:
  // `slots`: sessions that may run at once (0: no limit).
  explicit AdmissionQueue(uint32_t slots) : slots_(slots) {}

  // Takes a slot now if one is free and nobody waits (returns 0), or joins
  // the end of the line (returns the place, 1: next).
  size_t Join(const std::string& id);
  // Blocks until `id` (which joined) has a slot: OK. CANCELLED, leaving the
  // line, once `cancelled()` is true after a Wake(). `on_place` is called
  // (without the queue's lock) each time the place changes.
  absl::Status Wait(const std::string& id,
                    const std::function<bool()>& cancelled,
                    const std::function<void(size_t)>& on_place);
  // Gives back the slot `id` holds, or its place in line.
  void Leave(const std::string& id);
  // Makes every waiter look at its cancel flag again.
  void Wake();

  size_t running() const;
  size_t waiting() const;
  // 0 if `id` does not wait.
  size_t PlaceOf(const std::string& id) const;

 private:
  bool Free() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return slots_ == 0 || holders_.size() < slots_;
  }
  size_t PlaceLocked(const std::string& id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t slots_;
  mutable absl::Mutex mu_;
  absl::CondVar changed_;
  std::deque<std::string> line_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> holders_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by every change
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_ADMISSION_QUEUE_H_
