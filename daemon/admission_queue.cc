#include "daemon/admission_queue.h"

#include <algorithm>

namespace vmig::daemon {

size_t AdmissionQueue::Join(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (line_.empty() && Free()) {
    holders_.push_back(id);
    return 0;
  }
  line_.push_back(id);
  ++generation_;
  return line_.size();
}

size_t AdmissionQueue::PlaceLocked(const std::string& id) const {
  auto it = std::find(line_.begin(), line_.end(), id);
  return it == line_.end() ? 0 : static_cast<size_t>(it - line_.begin()) + 1;
}

absl::Status AdmissionQueue::Wait(const std::string& id,
                                  const std::function<bool()>& cancelled,
                                  const std::function<void(size_t)>& on_place) {
  size_t told = 0;
  for (;;) {
    size_t place = 0;
    {
      absl::MutexLock lock(&mu_);
      place = PlaceLocked(id);
      if (place == 0) return absl::OkStatus();  // holds a slot already
      if (place == 1 && Free()) {
        line_.pop_front();
        holders_.push_back(id);
        ++generation_;
        changed_.SignalAll();  // the others move up
        return absl::OkStatus();
      }
      if (cancelled()) {
        line_.erase(line_.begin() + static_cast<long>(place - 1));
        ++generation_;
        changed_.SignalAll();
        return absl::CancelledError("cancelled while queued");
      }
      if (place == told) {
        const uint64_t seen = generation_;
        // Every Leave, Join, turn and Wake bumps the generation and
        // signals; the timeout only bounds a lost wake-up's cost.
        while (generation_ == seen) {
          if (changed_.WaitWithTimeout(&mu_, absl::Seconds(5))) break;
        }
        continue;
      }
    }
    told = place;
    on_place(place);
  }
}

void AdmissionQueue::Leave(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (auto it = std::find(holders_.begin(), holders_.end(), id);
      it != holders_.end()) {
    holders_.erase(it);
  } else if (auto w = std::find(line_.begin(), line_.end(), id);
             w != line_.end()) {
    line_.erase(w);
  } else {
    return;
  }
  ++generation_;
  changed_.SignalAll();
}

void AdmissionQueue::Wake() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  changed_.SignalAll();
}

size_t AdmissionQueue::running() const {
  absl::MutexLock lock(&mu_);
  return holders_.size();
}

size_t AdmissionQueue::waiting() const {
  absl::MutexLock lock(&mu_);
  return line_.size();
}

size_t AdmissionQueue::PlaceOf(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  return PlaceLocked(id);
}

}  // namespace vmig::daemon
