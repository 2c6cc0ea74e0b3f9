// What this daemon measured in earlier migrations, per device and of its
// link, so that a prediction can rest on a measurement where the session
// cannot make one yet: a device without PRE_COPY is not read before the
// switchover, and a destination device is not written before state comes.
// Source engines and destination sessions both record into it.
#ifndef VMIGD_DAEMON_MEASURE_HISTORY_H_
#define VMIGD_DAEMON_MEASURE_HISTORY_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace vmig::daemon {

struct DeviceMeasures {
  double read_rate = 0;  // bytes/s out of its data_fd (as a source)
  // It read at least this fast while something else set the pace (0: no
  // such run): not its rate, a floor under it.
  double read_floor = 0;
  double write_rate = 0;  // bytes/s into it while it pushed back
  absl::Duration arc;     // one FSM arc; 0: never measured
};

// The history's key for a device, from its description: a kernel device's
// path, or an emulated device's spec without its name, content seed and
// state file (devices of one spec are one class, whatever they hold and
// wherever they keep it).
std::string HistoryKey(const std::string& source);

class MeasureHistory {
 public:
  // Devices remembered at most (one entry each): beyond it, the table is
  // cleared and learns again rather than grows.
  static constexpr size_t kMaxDevices = 4096;

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
  // 0: never measured.
  double link() const;
  // Zero: never measured.
  absl::Duration commit_overhead() const;
  // Zero: never measured, or never more than the model explained.
  absl::Duration stop_copy_overhead() const;

 private:
  DeviceMeasures& Entry(const std::string& device)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, DeviceMeasures> devices_
      ABSL_GUARDED_BY(mu_);
  double link_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration commit_overhead_ ABSL_GUARDED_BY(mu_);
  absl::Duration stop_copy_overhead_ ABSL_GUARDED_BY(mu_);
  bool stop_copy_measured_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_MEASURE_HISTORY_H_
