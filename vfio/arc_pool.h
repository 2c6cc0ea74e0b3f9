// The threads a device group's arcs run on. A barrier across n devices
// costs one transition only if the n arcs run at once; starting n threads
// per barrier (as the group did) paid a thread's creation and teardown per
// device per arc, and made the number of threads alive a function of how
// many arcs were in flight. The pool keeps up to n-1 threads for the life
// of its group (the caller runs one arc itself), sleeping on a condition
// variable between barriers.
#ifndef VMIGD_VFIO_ARC_POOL_H_
#define VMIGD_VFIO_ARC_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vmig::vfio {

class ArcPool {
 public:
  ArcPool() = default;
  ~ArcPool();
  ArcPool(const ArcPool&) = delete;
  ArcPool& operator=(const ArcPool&) = delete;

  // Runs f(i) for every i in [0, n), in parallel, and returns once every
  // call has returned. The caller's thread runs a share; the pool grows to
  // n - 1 threads and keeps them, so a group's pool never holds more
  // threads than the group has devices less one. Calls from several threads
  // take turns.
  void ParallelFor(size_t n, const std::function<void(size_t)>& f);

  // Starts the threads a barrier across n calls needs (n - 1), now, so that
  // the group's first barrier does not pay for their creation: that
  // barrier may be a switchover's P2P quiescence (a session without
  // pre-copy), and its wall time is what the downtime model learns a
  // barrier costs (8 threads' creation measured 0.8-2.5 ms on a 2-core
  // guest, against 0.06-0.11 ms for a barrier on started threads).
  void Reserve(size_t n);

  // The threads started so far (tests: bounded, and reused).
  size_t threads() const;

 private:
  void Work();
  // Takes indices of the current job until none is left; `lock` is held
  // on entry and on return.
  void RunShare(std::unique_lock<std::mutex>& lock);
  // Starts threads until there are n - 1; `lock` holds mu_.
  void Grow(size_t n, const std::unique_lock<std::mutex>& lock);

  std::mutex turn_;  // one ParallelFor at a time
  // std::mutex, not absl::Mutex: ThreadSanitizer sees pthread's order, not
  // that of Debian's uninstrumented Abseil.
  mutable std::mutex mu_;
  std::condition_variable work_;  // a job was posted, or stop
  std::condition_variable done_;  // the job's last call returned
  const std::function<void(size_t)>* job_ = nullptr;  // guarded by mu_
  size_t size_ = 0;                                   // guarded by mu_
  size_t next_ = 0;                                   // guarded by mu_
  size_t finished_ = 0;                               // guarded by mu_
  bool stop_ = false;                                 // guarded by mu_
  std::vector<std::thread> threads_;                  // guarded by mu_
};

}  // namespace vmig::vfio

#endif  // VMIGD_VFIO_ARC_POOL_H_
