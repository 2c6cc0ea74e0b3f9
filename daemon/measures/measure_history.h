// What this daemon knows of device classes and its link from measurement,
// so that a prediction can rest on a measurement where the session cannot
// make one yet: a device without PRE_COPY is not read before the
// switchover, and a destination device is not written before state comes.
// Each figure carries where it came from: this daemon's own migrations
// (its history, kept in state_dir), a peer's (told in a handshake), or a
// calibration file. Source engines and destination sessions record into
// it; the daemon's own measurement replaces a foreign figure, then refines.
#ifndef VMIGD_DAEMON_MEASURES_MEASURE_HISTORY_H_
#define VMIGD_DAEMON_MEASURES_MEASURE_HISTORY_H_

#include <cstddef>
#include <optional>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "vmig/v1/calibration.pb.h"

namespace vmig::daemon {

// Least to most trusted; equal to v1::MeasureOrigin's values.
enum class Origin { kNone = 0, kCalibration = 1, kPeer = 2, kHistory = 3 };

struct DeviceMeasures {
  double read_rate = 0;  // bytes/s out of its data_fd (as a source)
  // It read at least this fast while something else set the pace (0: no
  // such run): not its rate, a floor under it.
  double read_floor = 0;
  double write_rate = 0;  // bytes/s into it while it pushed back
  absl::Duration arc;     // one FSM arc; 0: never measured
  Origin read_origin = Origin::kNone, read_floor_origin = Origin::kNone,
         write_origin = Origin::kNone, arc_origin = Origin::kNone;
};

// The class of an emulated device, from its spec: the spec without its
// name, content seed and state file (devices of one spec are one class,
// whatever they hold and wherever they keep it). Other sources are their
// own class.
std::string HistoryKey(const std::string& source);

v1::DeviceClassMeasures MeasuresToProto(const std::string& device_class,
                                        const DeviceMeasures& m);

// What this daemon tells a peer of a class: the figures of `m` that a
// daemon measured (its own, or a peer's), not a calibration file's; the
// others zero.
v1::DeviceClassMeasures SharedMeasures(const std::string& device_class,
                                       const DeviceMeasures& m);

class MeasureHistory {
 public:
  // Classes remembered at most (one entry each): beyond it, the table is
  // cleared and learns again rather than grows.
  static constexpr size_t kMaxDevices = 4096;

  MeasureHistory() = default;
  ~MeasureHistory();
  MeasureHistory(const MeasureHistory&) = delete;
  MeasureHistory& operator=(const MeasureHistory&) = delete;

  // Seeds every class of `c` (a calibration file's figures, or a peer's)
  // where nothing better is known: a figure of `origin` never replaces one
  // of a more trusted origin, nor this daemon's own.
  void Learn(const v1::DeviceClassMeasures& c, Origin origin);
  void LearnCalibration(const v1::Calibration& c);
  // Reads this daemon's own history from `path` (if it exists: a missing
  // file is an empty history), then writes it back there, off the calling
  // threads, whenever something new was measured. Call once, at start.
  absl::Status PersistTo(const std::string& path);
  // Writes what is pending now (tests; the destructor does too).
  void Flush();

  void RecordLink(double bytes_per_s);
  void RecordCommitOverhead(absl::Duration d);
  // Stop-copy past what its arcs and bytes explain; zero counts (the cost
  // can shrink back), a negative sample counts as zero.
  void RecordStopCopyOverhead(absl::Duration d);
  void RecordArc(const std::string& device, absl::Duration arc);
  void RecordRead(const std::string& device, double bytes_per_s);
  // The device read at least this fast (something else held it back):
  // raises the remembered floor, never lowers it.
  void RecordReadAtLeast(const std::string& device, double bytes_per_s);
  void RecordWrite(const std::string& device, double bytes_per_s);

  std::optional<DeviceMeasures> Device(const std::string& device) const;
  // Everything, as a calibration file holds it (origins included).
  v1::Calibration Snapshot() const;
  // 0: never measured.
  double link() const;
  // Zero: never measured.
  absl::Duration commit_overhead() const;
  // Zero: never measured, or never more than the model explained.
  absl::Duration stop_copy_overhead() const;

 private:
  DeviceMeasures& Entry(const std::string& device)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Changed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteLoop();

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, DeviceMeasures> devices_
      ABSL_GUARDED_BY(mu_);
  double link_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration commit_overhead_ ABSL_GUARDED_BY(mu_);
  Origin commit_origin_ ABSL_GUARDED_BY(mu_) = Origin::kNone;
  absl::Duration stop_copy_overhead_ ABSL_GUARDED_BY(mu_);
  Origin stop_copy_origin_ ABSL_GUARDED_BY(mu_) = Origin::kNone;
  // Persistence: the file, whether it lags, and the writer's stop.
  std::string path_;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex write_mu_;  // one writer of the file at a time
  std::thread writer_;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_MEASURES_MEASURE_HISTORY_H_
