// Pre-copy, from its start to the switchover's go: each pass samples the
// devices (the tracker), asks for the switchover-ack (then the
// destination's write rates), predicts (the predictor), asks the switchover
// policy (daemon/model) and publishes why the session waits. Every way out
// says why, with the figures.
#ifndef VMIGD_DAEMON_SOURCE_PRECOPY_PHASE_H_
#define VMIGD_DAEMON_SOURCE_PRECOPY_PHASE_H_

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "common/clock.h"
#include "daemon/peer_client.h"
#include "daemon/session_record.h"
#include "daemon/source/precopy_tracker.h"
#include "daemon/source/session_predictor.h"
#include "dataplane/rate_limiter.h"

namespace vmig::daemon {

class PrecopyPhase {
 public:
  struct Parts {
    SessionRecord& session;
    PeerClient& peer;
    std::string peer_name;  // for errors: "the destination host:port"
    Clock& clock;           // the policy's (a test may step it)
    PrecopyTracker& tracker;
    SessionPredictor& predictor;
    dataplane::RateLimiter& cap;  // the session's, held to max_bandwidth
    absl::Duration interval;      // between passes
  };
  explicit PrecopyPhase(Parts parts) : p_(std::move(parts)) {}

  // Runs until the switchover should start (OK) or the session must fail.
  // `checks` (a cancel, the peer's liveness) runs each pass; `publish`
  // shows the phase (PRECOPY or READY) after each decision.
  absl::Status Run(absl::FunctionRef<absl::Status()> checks,
                   absl::FunctionRef<void(v1::Phase)> publish);

  absl::Time start() const { return start_; }
  // Why the session does not switch over yet ("" when nothing holds it).
  const std::string& waiting() const { return waiting_; }
  // It switched over with the bound past the budget, as allowed.
  bool over_budget() const { return over_budget_; }

 private:
  // Every 20 ms until it comes, then every 100 ms for the write rates.
  absl::Status AskSwitchoverAck(absl::Time now);

  Parts p_;
  absl::Time start_;
  bool ack_received_ = false;
  bool over_budget_ = false;
  // The prediction's smallest bound so far, for the timeout's error.
  absl::Duration best_bound_ = absl::InfiniteDuration();
  std::string waiting_;
  absl::Time last_ack_try_ = absl::InfinitePast();
  absl::Time last_debug_ = absl::InfinitePast();  // the last debug figures
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_PRECOPY_PHASE_H_
