// The source's commit: one call that hands the devices' state to the
// destination, with the journal's marks around it, and, when that call's
// answer is lost, asking the destination (Abort, which fences a commit that
// has not begun) until it tells the outcome or an operator resolves the
// session. An outcome never learned stays unknown: not a failure, not a
// success.
#ifndef VMIGD_DAEMON_SOURCE_COMMIT_CALL_H_
#define VMIGD_DAEMON_SOURCE_COMMIT_CALL_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "daemon/peer_client.h"
#include "daemon/session_record.h"
#include "vmig/v1/migration.pb.h"

namespace vmig::daemon {

class CommitCall {
 public:
  // `shutdown`: the daemon stops; an outcome still unknown then is left so
  // (the devices stay stopped for a restart to find).
  CommitCall(SessionRecord& session, PeerClient& peer, Clock& clock,
             const std::atomic<bool>& shutdown)
      : session_(session), peer_(peer), clock_(clock), shutdown_(shutdown) {}

  // Tells the session IN_DOUBT with this error.
  using InDoubt = std::function<void(const std::string& error)>;
  // COMMITTED (the destination owns the state), or an error: ABORTED when
  // no destination device ran (the source may resume), UNKNOWN when the
  // daemon stopped before it learned the outcome (in_doubt()).
  absl::StatusOr<v1::CommitResponse> Call(const v1::CommitRequest& req,
                                          const InDoubt& in_doubt);
  bool in_doubt() const { return in_doubt_; }

 private:
  absl::StatusOr<v1::CommitResponse> LearnOutcome(const absl::Status& lost,
                                                  const InDoubt& in_doubt);

  SessionRecord& session_;
  PeerClient& peer_;
  Clock& clock_;
  const std::atomic<bool>& shutdown_;
  bool in_doubt_ = false;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_COMMIT_CALL_H_
