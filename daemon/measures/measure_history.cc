#include "daemon/measures/measure_history.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/fmt_absl.h"
#include "daemon/measures/calibration_file.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {
namespace {

// Each new measurement moves the remembered one halfway: a changed device
// or link is learned within a few migrations, one odd run is damped. A
// foreign figure (calibration, peer) is replaced by the first of this
// daemon's own: it measured this host.
double Blend(double old_value, Origin old_origin, double sample) {
  return old_value > 0 && old_origin == Origin::kHistory
             ? 0.5 * old_value + 0.5 * sample
             : sample;
}

absl::Duration Blend(absl::Duration old_value, Origin old_origin,
                     absl::Duration sample) {
  return old_value > absl::ZeroDuration() && old_origin == Origin::kHistory
             ? (old_value + sample) / 2
             : sample;
}

v1::MeasureOrigin ToProto(Origin o) {
  return static_cast<v1::MeasureOrigin>(static_cast<int>(o));
}

Origin FromProto(v1::MeasureOrigin o) {
  switch (o) {
    case v1::MEASURE_ORIGIN_CALIBRATION:
      return Origin::kCalibration;
    case v1::MEASURE_ORIGIN_PEER:
      return Origin::kPeer;
    case v1::MEASURE_ORIGIN_HISTORY:
      return Origin::kHistory;
    default:
      return Origin::kNone;
  }
}

// Takes a foreign figure where what is known is less trusted (a peer's
// newer figure replaces its older one).
template <typename T>
void Take(T& value, Origin& have, T offered, Origin origin) {
  if (offered <= T{} || have > origin) return;
  value = offered;
  have = origin;
}

// Takes each figure of `c` where what `m` knows is less trusted, with the
// origin `origin_of` gives for the figure's own recorded origin.
template <typename OriginOf>
void Merge(const v1::DeviceClassMeasures& c, OriginOf origin_of,
           DeviceMeasures& m) {
  Take(m.read_rate, m.read_origin, c.read_bytes_per_second(),
       origin_of(c.read_origin()));
  Take(m.write_rate, m.write_origin, c.write_bytes_per_second(),
       origin_of(c.write_origin()));
  Take(m.arc, m.arc_origin, absl::Nanoseconds(c.arc_ns()),
       origin_of(c.arc_origin()));
  if (c.read_floor_bytes_per_second() > m.read_floor) {
    m.read_floor = c.read_floor_bytes_per_second();
    m.read_floor_origin = origin_of(c.read_floor_origin());
  }
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

v1::DeviceClassMeasures MeasuresToProto(const std::string& device_class,
                                        const DeviceMeasures& m) {
  v1::DeviceClassMeasures p;
  p.set_device_class(device_class);
  p.set_read_bytes_per_second(m.read_rate);
  p.set_read_floor_bytes_per_second(m.read_floor);
  p.set_write_bytes_per_second(m.write_rate);
  p.set_arc_ns(absl::ToInt64Nanoseconds(m.arc));
  p.set_read_origin(ToProto(m.read_origin));
  p.set_read_floor_origin(ToProto(m.read_floor_origin));
  p.set_write_origin(ToProto(m.write_origin));
  p.set_arc_origin(ToProto(m.arc_origin));
  return p;
}

v1::DeviceClassMeasures SharedMeasures(const std::string& device_class,
                                       const DeviceMeasures& m) {
  // Measured by a daemon of a pair: not a calibration file's (each daemon
  // has its own, and an echo would pass it off as a measurement).
  auto shared = [](Origin o) {
    return o == Origin::kHistory || o == Origin::kPeer;
  };
  v1::DeviceClassMeasures p;
  p.set_device_class(device_class);
  if (shared(m.read_origin)) p.set_read_bytes_per_second(m.read_rate);
  if (shared(m.read_floor_origin))
    p.set_read_floor_bytes_per_second(m.read_floor);
  if (shared(m.write_origin)) p.set_write_bytes_per_second(m.write_rate);
  if (shared(m.arc_origin)) p.set_arc_ns(absl::ToInt64Nanoseconds(m.arc));
  return p;
}

MeasureHistory::~MeasureHistory() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  Flush();
}

DeviceMeasures& MeasureHistory::Entry(const std::string& device) {
  if (devices_.size() >= kMaxDevices && !devices_.contains(device))
    devices_.clear();
  return devices_[device];
}

void MeasureHistory::Changed() { dirty_ = true; }

void MeasureHistory::Learn(const v1::DeviceClassMeasures& c, Origin origin) {
  if (c.device_class().empty() || origin == Origin::kNone) return;
  // A peer's figures come over the wire: one no device has (not finite,
  // negative, past 1 TB/s or a minute) is dropped, all of the class's.
  v1::Calibration one;
  one.set_version(kCalibrationVersion);
  *one.add_classes() = c;
  if (absl::Status s = CheckCalibration(one, "peer"); !s.ok()) {
    spdlog::warn("measures of {} ignored: {}", c.device_class(), s.message());
    return;
  }
  absl::MutexLock lock(&mu_);
  DeviceMeasures& m = Entry(c.device_class());
  Merge(
      c, [origin](v1::MeasureOrigin) { return origin; }, m);
  Changed();
}

void MeasureHistory::LearnCalibration(const v1::Calibration& c) {
  for (const v1::DeviceClassMeasures& m : c.classes())
    Learn(m, Origin::kCalibration);
  absl::MutexLock lock(&mu_);
  Take(commit_overhead_, commit_origin_,
       absl::Nanoseconds(c.commit_overhead_ns()), Origin::kCalibration);
  Take(stop_copy_overhead_, stop_copy_origin_,
       absl::Nanoseconds(c.stop_copy_overhead_ns()), Origin::kCalibration);
}

absl::Status MeasureHistory::PersistTo(const std::string& path) {
  if (!path_.empty()) return absl::FailedPreconditionError("already persisted");
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    absl::StatusOr<v1::Calibration> own = ReadCalibrationFile(path);
    if (!own.ok()) {
      // A damaged history is relearned, not fatal: it only ever refines.
      spdlog::warn("history {}: {}; starting without it", path,
                   own.status().message());
    } else {
      absl::MutexLock lock(&mu_);
      for (const v1::DeviceClassMeasures& c : own->classes()) {
        DeviceMeasures& m = Entry(c.device_class());
        // The file's own origins: a figure this daemon measured stays its
        // own; a foreign one stays foreign (and gives way as before).
        Merge(c, FromProto, m);
      }
      link_ = std::max(link_, own->link_bytes_per_second());
      Take(commit_overhead_, commit_origin_,
           absl::Nanoseconds(own->commit_overhead_ns()), Origin::kHistory);
      Take(stop_copy_overhead_, stop_copy_origin_,
           absl::Nanoseconds(own->stop_copy_overhead_ns()), Origin::kHistory);
    }
  }
  path_ = path;
  writer_ = std::thread([this] { WriteLoop(); });
  return absl::OkStatus();
}

void MeasureHistory::WriteLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](MeasureHistory* h) ABSL_EXCLUSIVE_LOCKS_REQUIRED(h->mu_) {
            return h->dirty_ || h->stopping_;
          },
          this));
      if (stopping_) return;
      // Coalesce a session's worth of records (both ends of a commit, every
      // device) into one write; a stop cuts the wait short.
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1));
      if (stopping_) return;
    }
    Flush();
  }
}

void MeasureHistory::Flush() {
  if (path_.empty()) return;
  absl::MutexLock write_lock(&write_mu_);
  v1::Calibration c;
  {
    absl::MutexLock lock(&mu_);
    if (!dirty_) return;
    dirty_ = false;
  }
  c = Snapshot();
  *c.mutable_provenance() = MakeProvenance("this daemon's own migrations");
  if (absl::Status s = WriteCalibrationFile(path_, c); !s.ok()) {
    spdlog::warn("history {}: {}", path_, s.message());
  }
}

v1::Calibration MeasureHistory::Snapshot() const {
  v1::Calibration c;
  c.set_version(kCalibrationVersion);
  absl::MutexLock lock(&mu_);
  std::vector<std::string> keys;
  for (const auto& [k, m] : devices_) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const std::string& k : keys)
    *c.add_classes() = MeasuresToProto(k, devices_.at(k));
  c.set_commit_overhead_ns(absl::ToInt64Nanoseconds(commit_overhead_));
  c.set_stop_copy_overhead_ns(absl::ToInt64Nanoseconds(stop_copy_overhead_));
  c.set_link_bytes_per_second(link_);
  return c;
}

void MeasureHistory::RecordLink(double bytes_per_s) {
  if (bytes_per_s <= 0) return;
  absl::MutexLock lock(&mu_);
  link_ = link_ > 0 ? 0.5 * link_ + 0.5 * bytes_per_s : bytes_per_s;
  Changed();
}

void MeasureHistory::RecordCommitOverhead(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  commit_overhead_ = Blend(commit_overhead_, commit_origin_, d);
  commit_origin_ = Origin::kHistory;
  Changed();
}

void MeasureHistory::RecordStopCopyOverhead(absl::Duration d) {
  d = std::max(d, absl::ZeroDuration());
  absl::MutexLock lock(&mu_);
  stop_copy_overhead_ =
      stop_copy_origin_ == Origin::kHistory ? (stop_copy_overhead_ + d) / 2 : d;
  stop_copy_origin_ = Origin::kHistory;
  Changed();
}

void MeasureHistory::RecordArc(const std::string& device, absl::Duration arc) {
  if (arc <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  DeviceMeasures& m = Entry(device);
  m.arc = Blend(m.arc, m.arc_origin, arc);
  m.arc_origin = Origin::kHistory;
  Changed();
}

void MeasureHistory::RecordRead(const std::string& device, double bytes_per_s) {
  if (bytes_per_s <= 0) return;
  absl::MutexLock lock(&mu_);
  DeviceMeasures& m = Entry(device);
  m.read_rate = Blend(m.read_rate, m.read_origin, bytes_per_s);
  m.read_origin = Origin::kHistory;
  Changed();
}

void MeasureHistory::RecordReadAtLeast(const std::string& device,
                                       double bytes_per_s) {
  if (bytes_per_s <= 0) return;
  absl::MutexLock lock(&mu_);
  DeviceMeasures& m = Entry(device);
  if (bytes_per_s <= m.read_floor) return;
  m.read_floor = bytes_per_s;
  m.read_floor_origin = Origin::kHistory;
  Changed();
}

void MeasureHistory::RecordWrite(const std::string& device,
                                 double bytes_per_s) {
  if (bytes_per_s <= 0) return;
  absl::MutexLock lock(&mu_);
  DeviceMeasures& m = Entry(device);
  m.write_rate = Blend(m.write_rate, m.write_origin, bytes_per_s);
  m.write_origin = Origin::kHistory;
  Changed();
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
