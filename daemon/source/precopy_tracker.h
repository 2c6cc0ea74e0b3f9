// Pre-copy's progress, sampled: each PRE_COPY device's PRECOPY_INFO (its
// initial and dirty bytes, a REINIT), its read and re-dirty rates, a
// stalled stream, and what the link was seen to carry. The figures go to
// the devices' records and the predictor; the tracker decides nothing.
#ifndef VMIGD_DAEMON_SOURCE_PRECOPY_TRACKER_H_
#define VMIGD_DAEMON_SOURCE_PRECOPY_TRACKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/source/session_predictor.h"
#include "daemon/source/source_device.h"
#include "vmig/v1/migration.pb.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

class PrecopyTracker {
 public:
  // `stall_timeout`: a device with data whose stream moves nothing for
  // this long means the peer or the link is gone. `name` is the session's,
  // for the log.
  PrecopyTracker(std::vector<SourceDevice>& devs, SessionPredictor& predictor,
                 absl::Duration stall_timeout, std::string name);

  // The devices' progress and rates count from `now`.
  void Start(absl::Time now);
  // The link's carry counts from `now`.
  void StartLinkSample(absl::Time now) {
    last_link_sample_ = now;
    last_link_total_ = 0;
  }

  struct Sample {
    // Every PRE_COPY device has sent its initial data.
    bool all_initial = true;
    // A device raised REINIT: new initial data, the switchover-ack must be
    // earned again.
    bool reinit = false;
  };
  // Samples every device at `now` (a device without PRE_COPY: its
  // stop-copy length). Fails on a device that cannot say its sizes or a
  // stalled stream, naming it.
  absl::StatusOr<Sample> Take(absl::Time now);

  bool any_precopy() const;
  // What STOP_COPY would still have to send, all devices together.
  uint64_t remaining() const;
  // For the switchover-ack: where each device's initial data ended in its
  // stream.
  void AddInitialOffsets(v1::SwitchoverAckRequest& req) const;
  // From its answer: the destination devices' write rates.
  void TakeWriteRates(const v1::SwitchoverAckResponse& resp);

 private:
  std::vector<SourceDevice>& devs_;
  SessionPredictor& predictor_;
  const absl::Duration stall_timeout_;
  const std::string name_;
  absl::Time last_link_sample_;
  uint64_t last_link_total_ = 0;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_PRECOPY_TRACKER_H_
