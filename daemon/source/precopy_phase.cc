#include "daemon/source/precopy_phase.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fmt_absl.h"
#include "daemon/model/switchover_policy.h"
#include "daemon/source/figures.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

absl::Status PrecopyPhase::AskSwitchoverAck(absl::Time now) {
  const absl::Duration ask_every =
      ack_received_ ? absl::Milliseconds(100) : absl::Milliseconds(20);
  if (now - last_ack_try_ <= ask_every) return absl::OkStatus();
  last_ack_try_ = now;
  v1::SwitchoverAckRequest ar;
  ar.set_session_id(p_.session.id());
  p_.tracker.AddInitialOffsets(ar);
  const absl::Time t0 = p_.clock.Now();
  absl::StatusOr<v1::SwitchoverAckResponse> resp = p_.peer.SwitchoverAck(ar);
  if (!resp.ok()) {
    // Once acknowledged, the call only refreshes write rates: whether the
    // destination is gone is the liveness monitor's to say.
    if (!ack_received_) {
      return absl::Status(
          resp.status().code(),
          absl::StrCat(p_.peer_name, ": ", resp.status().message()));
    }
    spdlog::debug("{}: switchover-ack refresh: {}", p_.session.name(),
                  resp.status().message());
    return absl::OkStatus();
  }
  p_.predictor.SeeRoundTrip(p_.clock.Now() - t0);
  ack_received_ = resp->acknowledged();
  p_.tracker.TakeWriteRates(*resp);
  return absl::OkStatus();
}

absl::Status PrecopyPhase::Run(absl::FunctionRef<absl::Status()> checks,
                               absl::FunctionRef<void(v1::Phase)> publish) {
  start_ = p_.clock.Now();
  const bool any_precopy = p_.tracker.any_precopy();
  p_.tracker.StartLinkSample(start_);
  const std::string& name = p_.session.name();
  for (;;) {
    if (absl::Status s = checks(); !s.ok()) return s;
    const SessionPolicy pol = ReadPolicy(p_.session);
    p_.cap.SetRate(pol.max_bandwidth);  // UpdateSession may change it
    const absl::Time now = p_.clock.Now();
    absl::StatusOr<PrecopyTracker::Sample> sample = p_.tracker.Take(now);
    if (!sample.ok()) return sample.status();
    // New initial data: the switchover-ack must be earned again.
    if (sample->reinit) ack_received_ = false;
    // Switchover-ack (the destination has loaded every device's initial
    // data), and after it the destination's write rates.
    if (sample->all_initial) {
      if (absl::Status s = AskSwitchoverAck(now); !s.ok()) return s;
    }
    const Prediction predicted = p_.predictor.Predict(pol);
    const Prediction floor = p_.predictor.PredictFloor(pol);
    SwitchoverInputs in;
    in.bound = predicted.bound;
    in.floor_bound = floor.bound;
    in.budget = pol.budget;
    in.manual = pol.manual;
    in.switchover_requested = p_.session.switchover_requested.load();
    in.allow_overrun = pol.allow_overrun;
    in.fail_on_timeout = pol.fail_on_timeout;
    in.any_precopy = any_precopy;
    in.ack_received = ack_received_;
    in.precopy_elapsed = now - start_;
    in.max_precopy = pol.max_precopy;
    const SwitchoverVerdict verdict = DecideSwitchover(in);
    if (verdict.decision == SwitchoverDecision::kRefuse)
      return p_.predictor.BudgetUnreachable(pol, floor);
    best_bound_ = std::min(best_bound_, predicted.bound);
    const bool ready =
        (!any_precopy || ack_received_) && predicted.bound <= pol.budget;
    waiting_ = !ready
                   ? p_.predictor.WaitingReason(predicted, pol, ack_received_)
               : pol.manual ? "ready: waiting for a Switchover call (manual)"
                            : "";
    publish(verdict.decision == SwitchoverDecision::kReady ? v1::PHASE_READY
                                                           : v1::PHASE_PRECOPY);
    const double link = p_.predictor.link_rate();
    // At debug level, the figures once a second.
    if (spdlog::should_log(spdlog::level::debug) &&
        now - last_debug_ >= absl::Seconds(1)) {
      last_debug_ = now;
      spdlog::debug(
          "{}: pre-copy {:.1f} s: {:.1f} MiB left, link {:.1f} MiB/s, "
          "predicted {:.1f} ms (bound {:.1f}), budget {:.1f} ms{}{}",
          name, absl::ToDoubleSeconds(now - start_),
          MiB(static_cast<double>(p_.tracker.remaining())), MiB(link),
          Ms(predicted.expected), Ms(predicted.bound), Ms(pol.budget),
          waiting_.empty() ? "" : "; ", waiting_);
    }
    if (verdict.decision == SwitchoverDecision::kSwitch) {
      spdlog::info(
          "{}: switching over: {}; predicted downtime {:.1f} ms (bound "
          "{:.1f}), budget {:.1f} ms, pre-copy ran {:.1f} s, link {:.1f} "
          "MiB/s{}{}",
          name, verdict.reason, Ms(predicted.expected), Ms(predicted.bound),
          Ms(pol.budget), absl::ToDoubleSeconds(now - start_), MiB(link),
          predicted.guesses.empty() ? "" : "; guessed: ", predicted.guesses);
      over_budget_ = verdict.over_budget;
      return absl::OkStatus();
    }
    if (verdict.decision == SwitchoverDecision::kTimeout) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "pre-copy ran %s without the prediction's bound fitting the "
          "budget %.1f ms: the smallest bound it reached was %.1f ms (%s); "
          "the source keeps running",
          absl::FormatDuration(pol.max_precopy), Ms(pol.budget),
          Ms(best_bound_), waiting_));
    }
    p_.clock.SleepFor(p_.interval);
  }
}

}  // namespace vmig::daemon
