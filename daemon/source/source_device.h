// One device of a source session: its handles (the device, the data
// session its arcs opened, the stream that carries it) and what the session
// has measured of it. The engine owns the list; the pre-copy tracker, the
// predictor and the data path each read it and update their own fields.
#ifndef VMIGD_DAEMON_SOURCE_SOURCE_DEVICE_H_
#define VMIGD_DAEMON_SOURCE_SOURCE_DEVICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "daemon/model/downtime_model.h"
#include "dataplane/stream.h"
#include "vfio/device.h"

namespace vmig::daemon {

struct SourceDevice {
  std::string id, peer_id;
  // Its entry in the measurement history (the device's source: its spec
  // or path, so that a device attached again differently is new).
  std::string history_key;
  std::shared_ptr<vfio::MigrationDevice> device;
  bool precopy = false;
  uint32_t stream_id = 0;
  std::unique_ptr<vfio::DataSession> data;
  std::shared_ptr<dataplane::Stream> stream;

  // The prediction's terms. One arc of this device here, and at the
  // destination.
  absl::Duration arc = absl::Milliseconds(1);
  Source arc_source = Source::kGuess;
  absl::Duration dest_arc = absl::Milliseconds(1);
  double read_rate = 0;  // bytes/s while the device had data
  Source read_source = Source::kGuess;
  double read_floor = 0;  // from the history, when it has no rate
  // The destination device's write rate while it pushed back (0: never).
  double write_rate = 0;
  // Re-dirtied bytes/s during pre-copy, after the initial data.
  double dirty_rate = 0;
  absl::Duration last_arc;  // of the last move of its state
  uint64_t stop_copy_length = 0;

  // Pre-copy progress (the tracker's).
  bool initial_done = false;
  bool dirty_armed = false;  // a sample after the initial data ended
  uint64_t initial_offset = 0;
  uint64_t initial_bytes = 0, dirty_bytes = 0;
  uint64_t last_bytes = 0;
  absl::Time last_sample;
  absl::Time last_progress;
  uint64_t bytes_sent = 0;  // last seen (the stream goes away at the end)

  // Stop-copy.
  uint64_t bytes_at_switchover = 0;
  absl::Duration transfer;  // from STOP_COPY to its stream's end
  uint64_t stream_bytes = 0;
  uint32_t caught_up = 0;
  uint64_t retransmits = 0;

  // What STOP_COPY would still have to send, as last measured.
  uint64_t remaining() const {
    return precopy ? initial_bytes + dirty_bytes : stop_copy_length;
  }
  // MIG_DATA_SIZE now; the error names the device.
  absl::Status RefreshStopCopyLength() {
    absl::StatusOr<uint64_t> len = device->GetStopCopyLength();
    if (!len.ok()) {
      return absl::Status(
          len.status().code(),
          absl::StrCat(id, ": stop-copy length: ", len.status().message()));
    }
    stop_copy_length = *len;
    return absl::OkStatus();
  }
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_SOURCE_DEVICE_H_
