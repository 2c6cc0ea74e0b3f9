// The source engine's commit: one call that hands the devices' state to the
// destination, learning the outcome when that call's answer is lost, and
// the downtime report of a commit that succeeded.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/fmt_absl.h"
#include "daemon/source_engine.h"
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

void SourceEngine::Report(const v1::CommitResponse& resp,
                          const SwitchoverTimes& t, absl::Duration predicted,
                          bool serial) {
  uint64_t moved = 0;
  for (Device& d : devs_) moved += d.stream_bytes - d.bytes_at_switchover;
  const double secs = static_cast<double>(t.transferred - t.quiesced) / 1e9;
  // Only a parallel switchover measures one arc and the link (a serial one
  // measures N arcs and each device's read rate).
  if (!serial && moved > (1u << 20) && secs > 0) {
    history_.Record(static_cast<double>(moved) / secs,
                    absl::Nanoseconds(t.quiesced - t.start));
  }
  v1::DowntimeReport report;
  ToProto(absl::Nanoseconds(t.end - t.start), report.mutable_downtime());
  ToProto(predicted, report.mutable_predicted());
  ToProto(absl::Nanoseconds(t.quiesced - t.start), report.mutable_quiesce());
  ToProto(absl::Nanoseconds(t.transferred - t.quiesced),
          report.mutable_stop_copy_transfer());
  ToProto(absl::Nanoseconds(resp.load_ns()), report.mutable_destination_load());
  ToProto(absl::Nanoseconds(resp.resume_ns()), report.mutable_resume());
  report.set_data_protection(dataplane::ProtectionName(protection_));
  for (const Device& d : devs_) {
    report.set_precopy_rounds(std::max(report.precopy_rounds(), d.caught_up));
    report.set_retransmitted_frames(report.retransmitted_frames() +
                                    d.retransmits);
    auto* x = report.add_devices();
    x->set_device(absl::StrCat("devices/", d.id));
    // What the device streamed after the switchover began, and how long
    // from STOP_COPY to its last byte written at the destination.
    ToProto(d.transfer, x->mutable_transfer());
    x->set_bytes(d.stream_bytes - d.bytes_at_switchover);
  }
  spdlog::info(
      "{}: downtime {:.1f} ms (predicted {:.1f}): quiesce {:.1f}, stop-copy "
      "{:.1f}, load {:.1f}, resume {:.1f}; data plane {}",
      session_->name(), (t.end - t.start) / 1e6,
      absl::ToDoubleMilliseconds(predicted), (t.quiesced - t.start) / 1e6,
      (t.transferred - t.quiesced) / 1e6, resp.load_ns() / 1e6,
      resp.resume_ns() / 1e6, report.data_protection());
  end_phase_ = v1::PHASE_COMPLETED;
  end_report_ = std::move(report);
}

}  // namespace vmig::daemon
