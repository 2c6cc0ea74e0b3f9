#include "vfio/emu/transition_log.h"

#include <time.h>

namespace vmig::vfio::emu {

TransitionLog& TransitionLog::Global() {
  static TransitionLog* log = new TransitionLog();
  return *log;
}

void TransitionLog::Record(ArcRecord r) {
  absl::MutexLock lock(&mu_);
  if (records_.size() >= capacity_) {
    records_.pop_front();
    ++dropped_;
  }
  if (sink_) sink_(r);
  records_.push_back(std::move(r));
}

void TransitionLog::SetSink(std::function<void(const ArcRecord&)> sink) {
  absl::MutexLock lock(&mu_);
  sink_ = std::move(sink);
}

std::vector<ArcRecord> TransitionLog::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return {records_.begin(), records_.end()};
}

void TransitionLog::Clear() {
  absl::MutexLock lock(&mu_);
  records_.clear();
  dropped_ = 0;
}

uint64_t TransitionLog::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

}  // namespace vmig::vfio::emu
