#include "vfio/transition_log.h"

#include <time.h>

namespace vmig::vfio {

TransitionLog& TransitionLog::Global() {
  static TransitionLog* log = new TransitionLog();
  return *log;
}

void TransitionLog::Record(ArcRecord r) {
  std::lock_guard<std::mutex> lock(mu_);
  if (records_.size() >= capacity_) {
    records_.pop_front();
    ++dropped_;
  }
  if (sink_) sink_(r);
  records_.push_back(std::move(r));
}

void TransitionLog::SetSink(std::function<void(const ArcRecord&)> sink) {
  std::lock_guard<std::mutex> lock(mu_);
  sink_ = std::move(sink);
}

std::vector<ArcRecord> TransitionLog::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {records_.begin(), records_.end()};
}

void TransitionLog::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  records_.clear();
  dropped_ = 0;
}

uint64_t TransitionLog::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

}  // namespace vmig::vfio
