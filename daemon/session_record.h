// What callers see of one session: its vmig.v1.Session proto, versioned so
// that watchers wake on every change, and the requests the API passes to a
// source session's engine. The objects that run a session (SourceEngine,
// DestinationSession) publish through it; nothing else of theirs is shared.
#ifndef VMIGD_DAEMON_SESSION_RECORD_H_
#define VMIGD_DAEMON_SESSION_RECORD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "vmig/v1/journal.pb.h"
#include "vmig/v1/migration.pb.h"

namespace vmig::daemon {

bool IsTerminal(v1::Phase p);

class SessionRecord {
 public:
  SessionRecord(std::string id, v1::Role role);

  const std::string& id() const { return id_; }
  std::string name() const { return "sessions/" + id_; }
  v1::Role role() const { return role_; }

  v1::Session Snapshot() const;
  // Calls `read` with the session proto under the lock (for a few fields
  // without copying the whole proto).
  void Read(const std::function<void(const v1::Session&)>& read) const {
    absl::MutexLock lock(&mu_);
    read(session_);
  }
  v1::Phase phase() const;
  // When it last changed (for evicting the longest-finished first).
  absl::Time update_time() const;
  // Applies `change` to the session proto and wakes watchers; a change of
  // phase or error goes to the journal (when one is set).
  void Update(const std::function<void(v1::Session&)>& change);

  // Where phase changes and commit marks are journalled: `write(session,
  // commit, durable)`. Set once, before the session is shared.
  using JournalWriter = std::function<absl::Status(
      const v1::Session&, v1::JournalSession::Commit, bool durable)>;
  void set_journal(JournalWriter w) { journal_ = std::move(w); }
  // Told every change of phase, `observer(from, session)`, after the
  // change and outside the record's lock (metrics). Set once, before the
  // session is shared.
  using PhaseObserver =
      std::function<void(v1::Phase from, const v1::Session& now)>;
  void set_phase_observer(PhaseObserver o) { phase_observer_ = std::move(o); }
  // Journals a commit mark, on disk before it returns (the source: before
  // the Commit call; the destination: before a device runs). An error means
  // the mark is not durable: the caller must not go on.
  absl::Status MarkCommit(v1::JournalSession::Commit c);
  v1::JournalSession::Commit commit_mark() const;
  // Waits until the version differs from `seen` or `until` passes.
  uint64_t WaitForChange(uint64_t seen, absl::Time until) const;
  // Waits (bounded) for a terminal phase; true if it came.
  bool WaitTerminal(absl::Duration timeout) const;

  // The session's id on the wire (set at the handshake); read by status.
  std::atomic<uint32_t> wire_session_id{0};

  // Source: requests from the API to the engine thread, and whether the
  // engine has begun the commit (after which a cancel is refused).
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> switchover_requested{false};
  std::atomic<bool> committing{false};
  // An operator's v1::ResolveRequest::Decision for a session in doubt; 0
  // until one is made.
  std::atomic<int> resolution{0};

 private:
  const std::string id_;
  const v1::Role role_;
  mutable absl::Mutex mu_;
  mutable absl::CondVar changed_;
  v1::Session session_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  v1::JournalSession::Commit commit_ ABSL_GUARDED_BY(mu_) =
      v1::JournalSession::COMMIT_UNSPECIFIED;
  // Journal writes happen outside mu_ (a durable one waits for the disk),
  // in version order under journal_mu_.
  absl::Status Journal(const v1::Session& s, uint64_t version,
                       v1::JournalSession::Commit c, bool durable);
  JournalWriter journal_;
  PhaseObserver phase_observer_;
  absl::Mutex journal_mu_;
  uint64_t journalled_ ABSL_GUARDED_BY(journal_mu_) = 0;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SESSION_RECORD_H_
