// A source session's progress as its record shows it: the phase, each
// device's state and bytes, the totals, the send rate (sampled at most
// every 500 ms on the real clock), the prediction and why the session
// waits. One update each time, so a watcher sees it whole.
#ifndef VMIGD_DAEMON_SOURCE_SESSION_PROGRESS_H_
#define VMIGD_DAEMON_SOURCE_SESSION_PROGRESS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/model/downtime_model.h"
#include "daemon/session_record.h"
#include "daemon/source/source_device.h"

namespace vmig::daemon {

class SessionProgress {
 public:
  SessionProgress(SessionRecord& session, std::vector<SourceDevice>& devs)
      : session_(session), devs_(devs) {}

  // The figures the engine has, beside the devices'.
  struct Figures {
    Prediction predicted;
    absl::Duration elapsed;
    // Pre-copy's time left and why it waits (unset: not in pre-copy).
    std::optional<absl::Duration> time_left;
    std::string waiting;
    double link_rate = 0;  // bytes/s
  };
  // Reads the streams' figures into the devices' records, then publishes
  // `phase` (unless the session has ended) and what `also` sets.
  void Publish(v1::Phase phase, const Figures& f,
               const std::function<void(v1::Session&)>& also);

 private:
  void ReadStreams();

  SessionRecord& session_;
  std::vector<SourceDevice>& devs_;
  Clock& wall_ = Clock::Real();
  absl::Time rate_at_ = absl::InfinitePast();
  uint64_t rate_bytes_ = 0;
  double send_rate_ = 0;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_SESSION_PROGRESS_H_
