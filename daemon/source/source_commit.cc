// The source engine's commit: one call that hands the devices' state to the
// destination, learning the outcome when that call's answer is lost, and
// the downtime report of a commit that succeeded.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fmt_absl.h"
#include "daemon/source/source_engine.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

absl::StatusOr<v1::CommitResponse> SourceEngine::Commit(bool serial) {
  v1::CommitRequest cr;
  cr.set_session_id(session_->id());
  cr.set_serial(serial);
  for (Device& d : devs_) {
    const dataplane::StreamStats st = d.stream->Stats();
    d.caught_up = st.caught_up;
    d.retransmits = st.sender.retransmits;
    d.stream_bytes = st.device_bytes;
    d.bytes_sent = d.stream_bytes;
    cr.add_stream_bytes(d.stream_bytes);
  }
  if (absl::Status s = CheckPeer(); !s.ok()) return s;
  // On disk before the call: a daemon restarted from here on must not
  // resume these devices without asking.
  if (absl::Status j = session_->MarkCommit(v1::JournalSession::COMMIT_BEGUN);
      !j.ok()) {
    return absl::Status(
        j.code(), absl::StrCat("journal, before the commit: ", j.message()));
  }
  session_->committing.store(true);
  absl::StatusOr<v1::CommitResponse> resp = peer_->Commit(cr);
  if (resp.ok() && resp->outcome() != v1::COMMIT_OUTCOME_COMMITTED &&
      resp->outcome() != v1::COMMIT_OUTCOME_ABORTED) {
    resp = absl::UnknownError(
        absl::StrCat("the destination answered the commit with outcome ",
                     v1::CommitOutcome_Name(resp->outcome())));
  }
  // Any failed call leaves the outcome unknown: the destination may have
  // committed even if its answer never came.
  if (!resp.ok()) resp = LearnOutcome(resp.status());
  if (!resp.ok()) return resp.status();
  if (resp->outcome() == v1::COMMIT_OUTCOME_ABORTED) {
    // Definite: no destination device ran, so resuming ours is safe.
    session_->committing.store(false);
    return absl::AbortedError(
        absl::StrCat("the destination did not commit: ", resp->error(),
                     " (no destination device ran; the source resumes)"));
  }
  // From here the destination owns the state: no rollback.
  committed_ = true;
  if (absl::Status j = session_->MarkCommit(v1::JournalSession::COMMIT_DONE);
      !j.ok()) {
    spdlog::error("{}: journal: {}", session_->name(), j.message());
  }
  group_.SetRecovery(vfio::Recovery::kKeep);
  return resp;
}

absl::StatusOr<v1::CommitResponse> SourceEngine::LearnOutcome(
    const absl::Status& lost) {
  const std::string why =
      absl::StrCat("commit: ", lost.message(),
                   "; its outcome is unknown, so the devices stay stopped "
                   "while the destination is asked");
  spdlog::warn("{}: {}", session_->name(), why);
  PublishProgress(v1::PHASE_IN_DOUBT,
                  [&](v1::Session& p) { p.set_error(why); });
  v1::AbortRequest ar;
  ar.set_session_id(session_->id());
  ar.set_reason(absl::StrCat("the source lost the commit's answer (",
                             lost.message(), ")"));
  absl::Duration backoff = absl::Milliseconds(50);
  for (;;) {
    switch (session_->resolution.load()) {
      case v1::ResolveRequest::DECISION_RESUME_SOURCE:
        spdlog::warn("{}: an operator resolved it: resume the source",
                     session_->name());
        return absl::AbortedError(
            absl::StrCat(why, "; an operator resolved it: RESUME_SOURCE"));
      case v1::ResolveRequest::DECISION_DESTINATION_OWNS: {
        spdlog::warn("{}: an operator resolved it: the destination owns it",
                     session_->name());
        v1::CommitResponse r;
        r.set_outcome(v1::COMMIT_OUTCOME_COMMITTED);
        r.set_error(
            "the commit's answer was lost; an operator resolved it: "
            "DESTINATION_OWNS");
        return r;
      }
      default:
        break;
    }
    if (shutdown_.load()) {
      in_doubt_ = true;
      return absl::UnknownError(
          absl::StrCat(why,
                       "; the daemon stopped before it learned the "
                       "outcome: the devices are left stopped"));
    }
    absl::StatusOr<v1::AbortResponse> a = peer_->Abort(ar);
    if (a.ok() && (a->outcome() == v1::COMMIT_OUTCOME_COMMITTED ||
                   a->outcome() == v1::COMMIT_OUTCOME_ABORTED)) {
      spdlog::info("{}: the destination says {}", session_->name(),
                   v1::CommitOutcome_Name(a->outcome()));
      v1::CommitResponse r = a->commit();
      r.set_outcome(a->outcome());
      return r;
    }
    const std::string asked =
        a.ok() ? absl::StrCat("the destination says ",
                              v1::CommitOutcome_Name(a->outcome()))
               : std::string(a.status().message());
    PublishProgress(v1::PHASE_IN_DOUBT, [&](v1::Session& p) {
      p.set_error(absl::StrCat(why, " (last answer: ", asked, ")"));
    });
    clock_.SleepFor(backoff);
    backoff = std::min(2 * backoff, absl::Seconds(1));
  }
}

void SourceEngine::Learn(const v1::CommitResponse& resp,
                         const SwitchoverTimes& t, bool serial) {
  uint64_t moved = 0;
  for (Device& d : devs_) {
    moved += d.stream_bytes - d.bytes_at_switchover;
    // The last arc (STOP_COPY -> STOP, after the commit): a device without
    // PRE_COPY makes none before the switchover, so the next session on it
    // starts from this one.
    if (d.last_arc > absl::ZeroDuration())
      history_.RecordArc(d.history_key, d.last_arc);
    // A device read only in stop-copy: what it managed then is a floor of
    // its read rate (the link or the destination may have held it back).
    const uint64_t bytes = d.stream_bytes - d.bytes_at_switchover;
    // Its transfer time includes its two arcs into STOP_COPY (one arc is
    // about its last one, STOP_COPY -> STOP).
    const absl::Duration reading =
        std::max(absl::Milliseconds(1), d.transfer - 2 * d.last_arc);
    if (!d.precopy && bytes > (1u << 20) && d.transfer > absl::ZeroDuration()) {
      const double r =
          static_cast<double>(bytes) / absl::ToDoubleSeconds(reading);
      // Well under its share of the link, the device set its own pace;
      // near it, the link (or the destination) did, and the device reads at
      // least that fast.
      const double share =
          link_rate_ / static_cast<double>(serial ? 1 : devs_.size());
      // The destination device pushing back sets it too.
      const bool dest_bound = d.write_rate > 0 && r >= 0.8 * d.write_rate;
      if (link_rate_ > 0 && r < 0.8 * share && !dest_bound) {
        history_.RecordRead(d.history_key, r);
      } else {
        history_.RecordReadAtLeast(d.history_key, r);
      }
    }
    if (d.precopy && d.read_source == Source::kMeasured)
      history_.RecordRead(d.history_key, d.read_rate);
  }
  const double secs = static_cast<double>(t.transferred - t.quiesced) / 1e9;
  // Only a parallel switchover fills the link with every stream at once.
  if (!serial && moved > (1u << 20) && secs > 0)
    history_.RecordLink(static_cast<double>(moved) / secs);
  // The commit's fixed cost: its time here less the destination's arcs.
  const absl::Duration commit = absl::Nanoseconds(t.end - t.transferred);
  const absl::Duration dest =
      absl::Nanoseconds(resp.load_ns() + resp.resume_ns());
  if (commit > dest) history_.RecordCommitOverhead(commit - dest);
}

void SourceEngine::LearnStopCopyOverhead(const SwitchoverTimes& t,
                                         const Prediction& predicted,
                                         bool serial) {
  // Only where this session measured every rate: an error of a guessed or
  // remembered rate is not a fixed cost.
  if (devs_.empty() || !predicted.guesses.empty()) return;
  for (const Device& d : devs_) {
    if (d.read_source != Source::kMeasured) return;
  }
  // Stop-copy past what its arcs and bytes explain: the last chunks'
  // acknowledgment and the wake-ups of a loaded machine. It is a fixed
  // cost, so more than a few round trips of it is a rate's error (which
  // the rates learn), not this.
  const absl::Duration took = absl::Nanoseconds(t.transferred - t.quiesced);
  const absl::Duration explained =
      predicted.stop_copy - predicted.stop_copy_overhead;
  const int64_t streams = serial ? static_cast<int64_t>(devs_.size()) : 1;
  const absl::Duration rtt = round_trip_ < absl::InfiniteDuration()
                                 ? round_trip_
                                 : absl::ZeroDuration();
  const absl::Duration cap = 2 * rtt + absl::Milliseconds(5);
  history_.RecordStopCopyOverhead(std::min((took - explained) / streams, cap));
}

std::string SourceEngine::Overrun(const v1::CommitResponse& resp,
                                  const SwitchoverTimes& t,
                                  const Prediction& p) const {
  (void)resp;
  const absl::Duration quiesce = absl::Nanoseconds(t.quiesced - t.start);
  const absl::Duration stop_copy =
      absl::Nanoseconds(t.transferred - t.quiesced);
  const absl::Duration commit = absl::Nanoseconds(t.end - t.transferred);
  struct Phase {
    std::string name;
    absl::Duration took, predicted;
  };
  std::vector<Phase> phases = {{"quiesce", quiesce, p.quiesce},
                               {"stop-copy", stop_copy, p.stop_copy},
                               {"commit", commit, p.commit}};
  // In stop-copy, the device that overran its own prediction the most.
  absl::Duration worst_excess = -absl::InfiniteDuration();
  for (size_t i = 0; i < devs_.size() && i < p.device_stop_copy.size(); ++i) {
    const absl::Duration excess = devs_[i].transfer - p.device_stop_copy[i];
    if (excess > worst_excess) {
      worst_excess = excess;
      phases[1].name = absl::StrCat("stop-copy of ", devs_[i].id);
    }
  }
  const Phase* worst = &phases[0];
  for (const Phase& ph : phases) {
    if (ph.took - ph.predicted > worst->took - worst->predicted) worst = &ph;
  }
  return absl::StrFormat("%s: %.1f ms, predicted %.1f ms", worst->name,
                         absl::ToDoubleMilliseconds(worst->took),
                         absl::ToDoubleMilliseconds(worst->predicted));
}

void SourceEngine::Report(const v1::CommitResponse& resp,
                          const SwitchoverTimes& t, const Prediction& predicted,
                          bool serial) {
  Learn(resp, t, serial);
  LearnStopCopyOverhead(t, predicted, serial);
  const Policy pol = ReadPolicy();
  const absl::Duration downtime = absl::Nanoseconds(t.end - t.start);
  v1::DowntimeReport report;
  ToProto(downtime, report.mutable_downtime());
  ToProto(predicted.expected, report.mutable_predicted());
  ToProto(predicted.bound, report.mutable_predicted_bound());
  ToProto(predicted.quiesce, report.mutable_predicted_quiesce());
  ToProto(predicted.stop_copy, report.mutable_predicted_stop_copy());
  ToProto(predicted.commit, report.mutable_predicted_commit());
  report.set_prediction_guesses(predicted.guesses);
  ToProto(pol.budget, report.mutable_budget());
  report.set_budget_met(downtime <= pol.budget);
  report.set_switched_over_budget(over_budget_);
  if (downtime > pol.budget || downtime > predicted.bound)
    report.set_overrun(Overrun(resp, t, predicted));
  ToProto(absl::Nanoseconds(t.quiesced - t.start), report.mutable_quiesce());
  ToProto(absl::Nanoseconds(t.transferred - t.quiesced),
          report.mutable_stop_copy_transfer());
  ToProto(absl::Nanoseconds(resp.load_ns()), report.mutable_destination_load());
  ToProto(absl::Nanoseconds(resp.resume_ns()), report.mutable_resume());
  ToProto(absl::Nanoseconds(resp.written_ns()),
          report.mutable_destination_written());
  ToProto(absl::Nanoseconds(resp.total_ns()),
          report.mutable_destination_commit());
  if (same_host_ && t.dest_running > t.start) {
    ToProto(absl::Nanoseconds(t.dest_running - t.start),
            report.mutable_same_host_downtime());
  }
  report.set_data_protection(dataplane::ProtectionName(protection_));
  for (size_t i = 0; i < devs_.size(); ++i) {
    const Device& d = devs_[i];
    report.set_precopy_rounds(std::max(report.precopy_rounds(), d.caught_up));
    report.set_retransmitted_frames(report.retransmitted_frames() +
                                    d.retransmits);
    auto* x = report.add_devices();
    x->set_device(absl::StrCat("devices/", d.id));
    // What the device streamed after the switchover began, and how long
    // from STOP_COPY to its last byte written at the destination.
    ToProto(d.transfer, x->mutable_transfer());
    x->set_bytes(d.stream_bytes - d.bytes_at_switchover);
    if (i < predicted.device_stop_copy.size())
      ToProto(predicted.device_stop_copy[i], x->mutable_predicted_transfer());
  }
  spdlog::info(
      "{}: downtime {:.1f} ms (predicted {:.1f}, bound {:.1f}, budget {:.1f}: "
      "{}): quiesce {:.1f}, stop-copy {:.1f}, load {:.1f}, resume {:.1f}; "
      "data plane {}{}{}",
      session_->name(), absl::ToDoubleMilliseconds(downtime),
      absl::ToDoubleMilliseconds(predicted.expected),
      absl::ToDoubleMilliseconds(predicted.bound),
      absl::ToDoubleMilliseconds(pol.budget),
      report.budget_met() ? "met" : "missed", (t.quiesced - t.start) / 1e6,
      (t.transferred - t.quiesced) / 1e6, resp.load_ns() / 1e6,
      resp.resume_ns() / 1e6, report.data_protection(),
      report.overrun().empty() ? "" : "; overran: ", report.overrun());
  // The destination's session shows the same report (best effort: the
  // migration is done whatever becomes of this call).
  v1::ReportRequest rr;
  rr.set_session_id(session_->id());
  *rr.mutable_report() = report;
  for (const Device& d : devs_) {
    if (std::optional<DeviceMeasures> m = history_.Device(d.history_key))
      *rr.add_measures() = SharedMeasures(d.history_key, *m);
  }
  if (absl::Status s = peer_->Report(rr); !s.ok()) {
    spdlog::warn("{}: the report did not reach the destination: {}",
                 session_->name(), s.message());
  }
  end_phase_ = v1::PHASE_COMPLETED;
  end_report_ = std::move(report);
}

}  // namespace vmig::daemon
