#include "daemon/source/commit_call.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

absl::StatusOr<v1::CommitResponse> CommitCall::Call(
    const v1::CommitRequest& req, const InDoubt& in_doubt) {
  // On disk before the call: a daemon restarted from here on must not
  // resume these devices without asking.
  if (absl::Status j = session_.MarkCommit(v1::JournalSession::COMMIT_BEGUN);
      !j.ok()) {
    return absl::Status(
        j.code(), absl::StrCat("journal, before the commit: ", j.message()));
  }
  session_.committing.store(true);
  absl::StatusOr<v1::CommitResponse> resp = peer_.Commit(req);
  if (resp.ok() && resp->outcome() != v1::COMMIT_OUTCOME_COMMITTED &&
      resp->outcome() != v1::COMMIT_OUTCOME_ABORTED) {
    resp = absl::UnknownError(
        absl::StrCat("the destination answered the commit with outcome ",
                     v1::CommitOutcome_Name(resp->outcome())));
  }
  // Any failed call leaves the outcome unknown: the destination may have
  // committed even if its answer never came.
  if (!resp.ok()) resp = LearnOutcome(resp.status(), in_doubt);
  if (!resp.ok()) return resp.status();
  if (resp->outcome() == v1::COMMIT_OUTCOME_ABORTED) {
    // Definite: no destination device ran, so resuming ours is safe.
    session_.committing.store(false);
    return absl::AbortedError(
        absl::StrCat("the destination did not commit: ", resp->error(),
                     " (no destination device ran; the source resumes)"));
  }
  if (absl::Status j = session_.MarkCommit(v1::JournalSession::COMMIT_DONE);
      !j.ok()) {
    spdlog::error("{}: journal: {}", session_.name(), j.message());
  }
  return resp;
}

absl::StatusOr<v1::CommitResponse> CommitCall::LearnOutcome(
    const absl::Status& lost, const InDoubt& in_doubt) {
  const std::string why =
      absl::StrCat("commit: ", lost.message(),
                   "; its outcome is unknown, so the devices stay stopped "
                   "while the destination is asked");
  spdlog::warn("{}: {}", session_.name(), why);
  in_doubt(why);
  v1::AbortRequest ar;
  ar.set_session_id(session_.id());
  ar.set_reason(absl::StrCat("the source lost the commit's answer (",
                             lost.message(), ")"));
  absl::Duration backoff = absl::Milliseconds(50);
  for (;;) {
    switch (session_.resolution.load()) {
      case v1::ResolveRequest::DECISION_RESUME_SOURCE:
        spdlog::warn("{}: an operator resolved it: resume the source",
                     session_.name());
        return absl::AbortedError(
            absl::StrCat(why, "; an operator resolved it: RESUME_SOURCE"));
      case v1::ResolveRequest::DECISION_DESTINATION_OWNS: {
        spdlog::warn("{}: an operator resolved it: the destination owns it",
                     session_.name());
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
    absl::StatusOr<v1::AbortResponse> a = peer_.Abort(ar);
    if (a.ok() && (a->outcome() == v1::COMMIT_OUTCOME_COMMITTED ||
                   a->outcome() == v1::COMMIT_OUTCOME_ABORTED)) {
      spdlog::info("{}: the destination says {}", session_.name(),
                   v1::CommitOutcome_Name(a->outcome()));
      v1::CommitResponse r = a->commit();
      r.set_outcome(a->outcome());
      return r;
    }
    const std::string asked =
        a.ok() ? absl::StrCat("the destination says ",
                              v1::CommitOutcome_Name(a->outcome()))
               : std::string(a.status().message());
    in_doubt(absl::StrCat(why, " (last answer: ", asked, ")"));
    clock_.SleepFor(backoff);
    backoff = std::min(2 * backoff, absl::Seconds(1));
  }
}

}  // namespace vmig::daemon
