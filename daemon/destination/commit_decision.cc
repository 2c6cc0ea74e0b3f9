#include "daemon/destination/commit_decision.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace vmig::daemon {

CommitDecision::Decision CommitDecision::Fence(const std::string& why) {
  absl::MutexLock lock(&mu_);
  const Decision was = decision_;
  if (was == Decision::kNone) {
    decision_ = Decision::kAborted;
    answer_.set_outcome(v1::COMMIT_OUTCOME_ABORTED);
    answer_.set_error(why);
  }
  return was;
}

absl::StatusOr<std::optional<v1::CommitResponse>> CommitDecision::Begin(
    absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  last_contact_ = absl::Now();
  switch (decision_) {
    case Decision::kCommitted:
    case Decision::kAborted:
      return std::optional<v1::CommitResponse>(answer_);  // the same answer
    case Decision::kCommitting:
      return absl::UnavailableError(
          absl::StrCat("the commit of ", record_.name(),
                       " is in progress; Abort answers its outcome"));
    case Decision::kNone:
      break;
  }
  if (!handshaken_) {
    return absl::FailedPreconditionError(
        absl::StrCat(record_.name(), " is ", v1::Phase_Name(record_.phase()),
                     ": nothing to commit"));
  }
  if (absl::Now() >= deadline) {
    return absl::FailedPreconditionError(
        "the caller's deadline passed before the commit began: nothing "
        "was done");
  }
  decision_ = Decision::kCommitting;
  return std::optional<v1::CommitResponse>();
}

void CommitDecision::Decide(Decision d, const v1::CommitResponse& resp) {
  absl::MutexLock lock(&mu_);
  decision_ = d;
  answer_ = resp;
}

bool CommitDecision::committed() const {
  absl::MutexLock lock(&mu_);
  return decision_ == Decision::kCommitted;
}

v1::CommitOutcome CommitDecision::Outcome() const {
  switch (decision_) {
    case Decision::kNone:
      return v1::COMMIT_OUTCOME_NONE;
    case Decision::kCommitting:
      return v1::COMMIT_OUTCOME_IN_PROGRESS;
    case Decision::kCommitted:
      return v1::COMMIT_OUTCOME_COMMITTED;
    case Decision::kAborted:
      return v1::COMMIT_OUTCOME_ABORTED;
  }
  return v1::COMMIT_OUTCOME_NONE;
}

void CommitDecision::Touch() {
  absl::MutexLock lock(&mu_);
  last_contact_ = absl::Now();
}

void CommitDecision::Handshaken() {
  absl::MutexLock lock(&mu_);
  handshaken_ = true;
  last_contact_ = absl::Now();
}

void CommitDecision::set_source(std::string source) {
  absl::MutexLock lock(&mu_);
  source_ = std::move(source);
}

void CommitDecision::ExpireAfter(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  expire_after_ = d;
  expiry_ = absl::Now() + d;
}

bool CommitDecision::Requeue() {
  absl::MutexLock lock(&mu_);
  if (decision_ != Decision::kNone || handshaken_) return false;
  if (expiry_ != absl::InfiniteFuture()) expiry_ = absl::Now() + expire_after_;
  return true;
}

v1::AbortResponse CommitDecision::AbortAnswer() const {
  absl::MutexLock lock(&mu_);
  v1::AbortResponse resp;
  resp.set_outcome(Outcome());
  if (decision_ == Decision::kCommitted || decision_ == Decision::kAborted)
    *resp.mutable_commit() = answer_;
  return resp;
}

v1::HeartbeatResponse CommitDecision::Heartbeat() {
  absl::MutexLock lock(&mu_);
  last_contact_ = absl::Now();
  const v1::Session now = record_.Snapshot();
  v1::HeartbeatResponse resp;
  resp.set_phase(now.phase());
  resp.set_error(now.error());
  resp.set_outcome(Outcome());
  // A source must not read "no reason".
  if (decision_ == Decision::kAborted && !IsTerminal(now.phase())) {
    resp.set_phase(v1::PHASE_FAILED);
    resp.set_error(answer_.error());
  }
  return resp;
}

CommitDecision::Health CommitDecision::Check(absl::Time now,
                                             absl::Duration liveness) const {
  absl::MutexLock lock(&mu_);
  Health h;
  if (decision_ != Decision::kNone) return h;
  if (!handshaken_) {
    if (now < expiry_) {
      h.next = expiry_;
      return h;
    }
    h.why = absl::StrCat("no source joined within ",
                         absl::FormatDuration(expire_after_),
                         " (limits.prepared_expiry_ms): expired, its devices "
                         "reset and released");
  } else if (now - last_contact_ > liveness) {
    h.silent = true;
    h.why = absl::StrCat(source_, " silent for ",
                         absl::FormatDuration(now - last_contact_),
                         " (liveness bound ", absl::FormatDuration(liveness),
                         "): rolled back before the commit");
  } else {
    h.look_at_streams = true;
    h.next = now;  // handshaken: looked at every tick
  }
  return h;
}

}  // namespace vmig::daemon
