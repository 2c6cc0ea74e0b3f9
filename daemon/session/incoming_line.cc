#include "daemon/session/incoming_line.h"

#include <algorithm>

namespace vmig::daemon {

size_t IncomingLine::Ask(const std::string& id, absl::Time now,
                         const absl::flat_hash_set<std::string>& live) {
  if (slots_ == 0) return 0;
  absl::MutexLock lock(&mu_);
  // A session that ended frees its slot; a source silent past kForget
  // (or whose session ended) loses its place.
  std::erase_if(admitted_,
                [&](const std::string& a) { return !live.contains(a); });
  std::erase_if(line_, [&](const auto& w) {
    return w.first != id &&
           (!live.contains(w.first) || now - w.second > kForget);
  });
  if (std::find(admitted_.begin(), admitted_.end(), id) != admitted_.end())
    return 0;  // asked again after being let in (a lost answer)
  auto it = std::find_if(line_.begin(), line_.end(),
                         [&](const auto& w) { return w.first == id; });
  if (it == line_.end()) {
    line_.emplace_back(id, now);
    it = line_.end() - 1;
  } else {
    it->second = now;
  }
  const size_t place = static_cast<size_t>(it - line_.begin()) + 1;
  const size_t free = admitted_.size() < slots_ ? slots_ - admitted_.size() : 0;
  if (place <= free) {
    line_.erase(it);
    admitted_.push_back(id);
    return 0;
  }
  return place - free;
}

void IncomingLine::Release(const std::string& id) {
  absl::MutexLock lock(&mu_);
  std::erase(admitted_, id);
  std::erase_if(line_, [&](const auto& w) { return w.first == id; });
}

}  // namespace vmig::daemon
