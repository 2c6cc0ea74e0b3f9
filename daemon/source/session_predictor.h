// A source session's downtime prediction and what it is made of: the
// devices' terms (their records hold them), the link's rate, the barriers
// and the round trip this session measured, the history where it measured
// nothing yet. It also explains a prediction (why the session waits, why a
// budget cannot be met) and, after a commit, teaches the history what the
// switchover measured. It reads no clock and moves nothing.
#ifndef VMIGD_DAEMON_SOURCE_SESSION_PREDICTOR_H_
#define VMIGD_DAEMON_SOURCE_SESSION_PREDICTOR_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon/measures/measure_history.h"
#include "daemon/model/downtime_model.h"
#include "daemon/source/session_policy.h"
#include "daemon/source/source_device.h"
#include "daemon/source/switchover_report.h"
#include "dataplane/rate_limiter.h"
#include "vmig/v1/migration.pb.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

class SessionPredictor {
 public:
  // `port_cap` (and `port_name`, for the reasons) is the data plane port's
  // rate cap, which holds every session's stop-copy.
  SessionPredictor(const std::vector<SourceDevice>& devs,
                   MeasureHistory& history,
                   const dataplane::RateLimiter& port_cap,
                   std::string port_name, bool serial);

  // Takes what the history knows of `d`'s class for each term still a
  // guess (this daemon's own, a peer's, a calibration file's).
  void UseHistory(SourceDevice& d) const;

  // Measurements.
  // The link probe's rate.
  void SetProbedLink(double bytes_per_s);
  // Pre-copy carried this much: the link's capacity is the most it was
  // seen to carry (pre-copy often does not fill it).
  void SeeLinkCarry(double bytes_per_s);
  void SeeRoundTrip(absl::Duration rtt) {
    round_trip_ = std::min(round_trip_, rtt);
  }
  // The destination's barrier over as many devices, from the handshake:
  // this side's too until it times one.
  void SetDestinationBarrier(absl::Duration d) {
    dest_barrier_ = source_barrier_ = d;
  }
  // This side timed a parallel barrier. A barrier's own cost is the
  // machine's, not a side's; noise only adds to it, so the smaller of the
  // two measurements stands for both.
  void SeeSourceBarrier(absl::Duration d) {
    source_barrier_ = dest_barrier_ = std::min(d, dest_barrier_);
  }
  double link_rate() const { return link_rate_; }

  // The rate the stop-copy will have: the link as measured, held to the
  // session's switchover cap and the port's cap. `*why` (if given) names
  // the cap that holds it ("" when none does).
  double SwitchoverRate(const SessionPolicy& pol,
                        std::string* why = nullptr) const;
  Prediction Predict(const SessionPolicy& pol) const;
  // The prediction with every pre-copy device drained: the least downtime.
  Prediction PredictFloor(const SessionPolicy& pol) const;

  // The error for a budget below `floor`, with its figures, its guesses
  // and what would cure it.
  absl::Status BudgetUnreachable(const SessionPolicy& pol,
                                 const Prediction& floor) const;
  // Why the session does not switch over yet, with the figures.
  std::string WaitingReason(const Prediction& p, const SessionPolicy& pol,
                            bool ack_received) const;

  // After a commit: what this switchover measured, for later predictions
  // (arcs, read rates, the link, the commit's and stop-copy's fixed costs).
  void Learn(const v1::CommitResponse& resp, const SwitchoverTimes& t,
             const Prediction& predicted);

 private:
  // A cap on the stop-copy's rate: what it lets devices' bytes through at,
  // and how errors name it ("<what> N MB/s").
  struct Cap {
    double device_rate = 0;
    std::string label;
  };
  // The session's and the port's caps that are set, in that order.
  std::vector<Cap> Caps(const SessionPolicy& pol) const;
  std::vector<DeviceTerms> Terms(bool drained) const;
  LinkTerms Link(const SessionPolicy& pol) const;
  // "; <cap> alone allows no less than X ms" for each cap that would break
  // the budget at its own rate, but for `held` (named already).
  std::string CapsBreakingBudget(const SessionPolicy& pol,
                                 const std::string& held) const;
  void LearnStopCopyOverhead(const SwitchoverTimes& t,
                             const Prediction& predicted);

  const std::vector<SourceDevice>& devs_;
  MeasureHistory& history_;
  const dataplane::RateLimiter& port_cap_;
  const std::string port_name_;
  const bool serial_;
  double link_rate_ = 0;  // bytes/s, all streams together
  Source link_source_ = Source::kGuess;
  absl::Duration source_barrier_, dest_barrier_;
  absl::Duration round_trip_ = absl::InfiniteDuration();  // fastest seen
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_SESSION_PREDICTOR_H_
