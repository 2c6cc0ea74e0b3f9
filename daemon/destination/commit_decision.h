// The destination session's one decision point, and what its callers need
// while the session's long work holds its other lock: the source's last
// contact, whether the handshake happened, the prepared session's expiry.
//
// A commit begins only if no rollback fenced it off first, and a rollback
// (abort, cancel, a silent source, a failed stream) happens only if no
// commit began. Once a commit has begun, its outcome is COMMITTED if any
// device ran, else ABORTED, and every later call answers with that outcome.
#ifndef VMIGD_DAEMON_DESTINATION_COMMIT_DECISION_H_
#define VMIGD_DAEMON_DESTINATION_COMMIT_DECISION_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/session_record.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

class CommitDecision {
 public:
  enum class Decision { kNone, kCommitting, kCommitted, kAborted };

  explicit CommitDecision(const SessionRecord& record) : record_(record) {}

  // Fences off the commit for a rollback (if no commit had begun): the
  // answer becomes ABORTED with `why`. Returns the decision before: kNone
  // if this call fenced it.
  Decision Fence(const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);
  // A commit asks to begin: the earlier answer if it was decided, an error
  // if one is in progress, nothing was handshaken or `deadline` passed;
  // nullopt when this call began it (kCommitting).
  absl::StatusOr<std::optional<v1::CommitResponse>> Begin(absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);
  // How the commit ended; `resp` is what every later call answers.
  void Decide(Decision d, const v1::CommitResponse& resp)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool committed() const ABSL_LOCKS_EXCLUDED(mu_);

  // The source called.
  void Touch() ABSL_LOCKS_EXCLUDED(mu_);
  void Handshaken() ABSL_LOCKS_EXCLUDED(mu_);
  void set_source(std::string source) ABSL_LOCKS_EXCLUDED(mu_);
  // A PREPARED session that no source joins within `d` from now expires.
  void ExpireAfter(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  // Its source was told to wait in line: the expiry counts from now.
  // False once it was handshaken or decided (the line is behind it).
  bool Requeue() ABSL_LOCKS_EXCLUDED(mu_);

  // The outcome so far, with the commit's answer once decided.
  v1::AbortResponse AbortAnswer() const ABSL_LOCKS_EXCLUDED(mu_);
  // A heartbeat (it counts as contact): the record's phase and error, and
  // the outcome. Fenced, but the rollback has not published its phase
  // yet: the fence's reason is the answer already.
  v1::HeartbeatResponse Heartbeat() ABSL_LOCKS_EXCLUDED(mu_);

  struct Health {
    // Why the session must roll back now ("" if nothing says so).
    std::string why;
    bool silent = false;  // the source went silent (the why says so)
    // Handshaken and healthy here: its streams are to be looked at.
    bool look_at_streams = false;
    absl::Time next = absl::InfiniteFuture();  // when to look again
  };
  // What a periodic check at `now` finds: an expired PREPARED session, a
  // source silent for `liveness`; nothing once decided.
  Health Check(absl::Time now, absl::Duration liveness) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  v1::CommitOutcome Outcome() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SessionRecord& record_;
  mutable absl::Mutex mu_;
  Decision decision_ ABSL_GUARDED_BY(mu_) = Decision::kNone;
  v1::CommitResponse answer_ ABSL_GUARDED_BY(mu_);
  bool handshaken_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time expiry_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Duration expire_after_ ABSL_GUARDED_BY(mu_);
  absl::Time last_contact_ ABSL_GUARDED_BY(mu_);
  std::string source_ ABSL_GUARDED_BY(mu_) = "the source";
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DESTINATION_COMMIT_DECISION_H_
