#include "daemon/measure_history.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace vmig::daemon {
namespace {

// Each new measurement moves the remembered one halfway: a changed device
// or link is learned within a few migrations, one odd run is damped.
double Blend(double old_value, double sample) {
  return old_value > 0 ? 0.5 * old_value + 0.5 * sample : sample;
}

absl::Duration Blend(absl::Duration old_value, absl::Duration sample) {
  return old_value > absl::ZeroDuration() ? (old_value + sample) / 2 : sample;
}

}  // namespace

std::string HistoryKey(const std::string& source) {
  if (source.rfind("emu:", 0) != 0) return source;
  std::vector<std::string> kept;
  for (absl::string_view part : absl::StrSplit(source.substr(4), ',')) {
    // Not what the device is: its name, its content's seed, and where a
    // daemon with a state directory keeps its state.
    if (!absl::StartsWith(part, "name=") && !absl::StartsWith(part, "seed=") &&
        !absl::StartsWith(part, "state_file="))
      kept.emplace_back(part);
  }
  return absl::StrCat("emu:", absl::StrJoin(kept, ","));
}

DeviceMeasures& MeasureHistory::Entry(const std::string& device) {
  if (devices_.size() >= kMaxDevices && !devices_.contains(device))
    devices_.clear();
  return devices_[device];
}

void MeasureHistory::RecordLink(double bytes_per_s) {
  if (bytes_per_s <= 0) return;
  absl::MutexLock lock(&mu_);
  link_ = Blend(link_, bytes_per_s);
}

void MeasureHistory::RecordCommitOverhead(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  commit_overhead_ = Blend(commit_overhead_, d);
}

void MeasureHistory::RecordStopCopyOverhead(absl::Duration d) {
  d = std::max(d, absl::ZeroDuration());
  absl::MutexLock lock(&mu_);
  stop_copy_overhead_ = stop_copy_measured_ ? (stop_copy_overhead_ + d) / 2 : d;
  stop_copy_measured_ = true;
}

void MeasureHistory::RecordArc(const std::string& device, absl::Duration arc) {
  if (arc <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  DeviceMeasures& m = Entry(device);
  m.arc = Blend(m.arc, arc);
}

void MeasureHistory::RecordRead(const std::string& device, double bytes_per_s) {
  if (bytes_per_s <= 0) return;
  absl::MutexLock lock(&mu_);
  DeviceMeasures& m = Entry(device);
  m.read_rate = Blend(m.read_rate, bytes_per_s);
}

void MeasureHistory::RecordReadAtLeast(const std::string& device,
                                       double bytes_per_s) {
  if (bytes_per_s <= 0) return;
  absl::MutexLock lock(&mu_);
  DeviceMeasures& m = Entry(device);
  m.read_floor = std::max(m.read_floor, bytes_per_s);
}

void MeasureHistory::RecordWrite(const std::string& device,
                                 double bytes_per_s) {
  if (bytes_per_s <= 0) return;
  absl::MutexLock lock(&mu_);
  DeviceMeasures& m = Entry(device);
  m.write_rate = Blend(m.write_rate, bytes_per_s);
}

std::optional<DeviceMeasures> MeasureHistory::Device(
    const std::string& device) const {
  absl::MutexLock lock(&mu_);
  auto it = devices_.find(device);
  if (it == devices_.end()) return std::nullopt;
  return it->second;
}

double MeasureHistory::link() const {
  absl::MutexLock lock(&mu_);
  return link_;
}

absl::Duration MeasureHistory::commit_overhead() const {
  absl::MutexLock lock(&mu_);
  return commit_overhead_;
}

absl::Duration MeasureHistory::stop_copy_overhead() const {
  absl::MutexLock lock(&mu_);
  return stop_copy_overhead_;
}

}  // namespace vmig::daemon
