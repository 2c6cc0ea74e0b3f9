#include "vfio/arc_pool.h"

namespace vmig::vfio {

ArcPool::~ArcPool() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    threads.swap(threads_);
  }
  work_.notify_all();
  for (std::thread& t : threads) t.join();
}

size_t ArcPool::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

void ArcPool::RunShare(std::unique_lock<std::mutex>& lock) {
  while (job_ != nullptr && next_ < size_) {
    const size_t i = next_++;
    const std::function<void(size_t)>& f = *job_;
    lock.unlock();
    f(i);
    lock.lock();
    if (++finished_ == size_) done_.notify_all();
  }
}

void ArcPool::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_.wait(lock,
               [this] { return stop_ || (job_ != nullptr && next_ < size_); });
    if (stop_) return;
    RunShare(lock);
  }
}

void ArcPool::Grow(size_t n, const std::unique_lock<std::mutex>& /*lock*/) {
  while (threads_.size() + 1 < n) threads_.emplace_back([this] { Work(); });
}

void ArcPool::Reserve(size_t n) {
  std::unique_lock<std::mutex> lock(mu_);
  Grow(n, lock);
}

void ArcPool::ParallelFor(size_t n, const std::function<void(size_t)>& f) {
  if (n == 0) return;
  if (n == 1) {
    f(0);
    return;
  }
  std::lock_guard<std::mutex> turn(turn_);
  std::unique_lock<std::mutex> lock(mu_);
  Grow(n, lock);
  job_ = &f;
  size_ = n;
  next_ = 0;
  finished_ = 0;
  work_.notify_all();
  RunShare(lock);
  done_.wait(lock, [this] { return finished_ == size_; });
  job_ = nullptr;
}

}  // namespace vmig::vfio
