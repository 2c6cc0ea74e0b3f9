// The sessions of this daemon: the map from id to session, the limits,
// request validation, watchers and dispatch. A source session runs in a
// SourceEngine on a thread of its own (reaped as soon as it ends); a
// destination session is a DestinationSession that serves the peer's calls.
#ifndef VMIGD_DAEMON_SESSION_SESSION_MANAGER_H_
#define VMIGD_DAEMON_SESSION_SESSION_MANAGER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "daemon/admission_queue.h"
#include "daemon/daemon_events.h"
#include "daemon/destination/destination_session.h"
#include "daemon/device_registry.h"
#include "daemon/journal.h"
#include "daemon/peer_client.h"
#include "daemon/session/incoming_line.h"
#include "daemon/session_record.h"
#include "daemon/source/source_engine.h"
#include "dataplane/transport.h"
#include "vmig/v1/config.pb.h"
#include "vmig/v1/migration.pb.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

// The request fields a session's policy is made of (StartMigration and
// UpdateSession check them alike); errors name the field.
absl::Status ValidateBudget(const google::protobuf::Duration& budget);
absl::Status ValidatePrecopy(const v1::PrecopyPolicy& precopy);
// A bandwidth cap (bytes/s): 0 or at least kMinBandwidth.
absl::Status ValidateBandwidth(const char* field, uint64_t bytes_per_second);

class SessionManager {
 public:
  // `transports`: the data plane's ports, in configuration order (a
  // session's data_endpoint names one; empty names the first). None: the
  // daemon refuses migrations. Source engines dial their peer through
  // `peer_clients` and read time from `clock`.
  // A destination session whose source is silent for `liveness` before
  // its commit is rolled back.
  SessionManager(DeviceRegistry& devices, const v1::LimitsConfig& limits,
                 std::vector<dataplane::Transport*> transports,
                 PeerClientFactory peer_clients, EngineTunables tunables = {},
                 Clock& clock = Clock::Real(),
                 absl::Duration liveness = absl::Seconds(3));
  ~SessionManager();

  // Journals every session from here on (set before serving).
  void set_journal(Journal* journal) { journal_ = journal; }
  // Tells `events` (which must outlive the manager) of every session's
  // phase changes and silent peers (set before serving).
  void set_events(DaemonEvents* events) { events_ = events; }
  // After a restart: the sessions the journal recovered. An interrupted
  // one ends FAILED ("daemon restarted during PHASE"), or COMPLETED when
  // the journal shows the commit; its devices go to a safe state (a source
  // device not committed back to RUNNING with its state, a destination
  // device reset); one whose commit outcome was unknown keeps its devices
  // stopped. Finished ones are listed as they were.
  void Restore(const Journal::State& journal);

  absl::StatusOr<v1::Session> PrepareIncoming(
      const v1::PrepareIncomingRequest& req);
  absl::StatusOr<v1::Session> StartMigration(
      const v1::StartMigrationRequest& req);
  absl::StatusOr<v1::Session> Switchover(absl::string_view name);
  // A source session's budget and pre-copy policy, before its switchover.
  absl::StatusOr<v1::Session> UpdateSession(
      const v1::UpdateSessionRequest& req);
  absl::StatusOr<v1::Session> Cancel(absl::string_view name);
  // An operator's decision for a source session in PHASE_IN_DOUBT; returns
  // once the engine has acted on it (bounded).
  absl::StatusOr<v1::Session> Resolve(absl::string_view name,
                                      v1::ResolveRequest::Decision decision);
  absl::StatusOr<v1::Session> Get(absl::string_view name);
  std::vector<v1::Session> List();
  // The name ("sessions/{id}") of the session with this wire session id,
  // or "" if none (ended and forgotten, or another daemon's).
  std::string NameOfWireSession(uint32_t wire_session_id);
  // Streams events to `send` until the session ends, `send` fails or
  // `cancelled()` turns true. RESOURCE_EXHAUSTED past the watcher limit.
  absl::Status Watch(absl::string_view name, absl::Duration interval,
                     const std::function<bool(const v1::SessionEvent&)>& send,
                     const std::function<bool()>& cancelled);
  // Cancels every session that has not committed (graceful shutdown) and
  // waits for source sessions to finish rolling back.
  void CancelAll();
  // What the daemon knows of device classes and its link: main loads a
  // calibration file and the state_dir's history into it before serving.
  MeasureHistory& history() { return history_; }

  // PeerService: dispatched to the destination session by id. `source`
  // names the caller (its address) in errors; `deadline` is the caller's.
  absl::StatusOr<v1::HandshakeResponse> PeerHandshake(
      const v1::HandshakeRequest& req, const std::string& source = "");
  absl::StatusOr<v1::SwitchoverAckResponse> PeerSwitchoverAck(
      const v1::SwitchoverAckRequest& req);
  absl::StatusOr<v1::CommitResponse> PeerCommit(
      const v1::CommitRequest& req,
      absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<v1::AbortResponse> PeerAbort(const v1::AbortRequest& req);
  absl::StatusOr<v1::HeartbeatResponse> PeerHeartbeat(
      const v1::HeartbeatRequest& req);
  absl::Status PeerReport(const v1::ReportRequest& req);

 private:
  struct Entry {
    std::shared_ptr<SessionRecord> record;
    // Destination sessions only; null while the session is being prepared.
    std::shared_ptr<DestinationSession> destination;
    // The create call's request_id (its retries return this session).
    std::string request_id;
  };
  struct EngineThread {
    std::string id;
    std::shared_ptr<SourceEngine> engine;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  absl::StatusOr<std::shared_ptr<SessionRecord>> Find(absl::string_view name);
  absl::StatusOr<std::shared_ptr<DestinationSession>> FindDestination(
      const std::string& id);
  // Reserves `id` under the limits, atomically: a second create call with
  // the same id, or one past max_sessions, is refused while the first is
  // still being set up. Returns the new record.
  // A retry (same id and request_id as the call that made it) gets that
  // call's record with `*retry` set.
  absl::StatusOr<std::shared_ptr<SessionRecord>> Reserve(
      const std::string& id, v1::Role role, const std::string& request_id,
      bool* retry);
  // What a retried create call answers: the session, or UNAVAILABLE while
  // the first call is still setting it up.
  static absl::StatusOr<v1::Session> AnswerRetry(const SessionRecord& record);
  void Unreserve(const std::string& id);
  // The port `endpoint` names (empty: the first); the error names the
  // request field.
  absl::StatusOr<dataplane::Transport*> DataEndpoint(
      const std::string& endpoint) const;
  void ReapEngines();
  // Drops the finished sessions that ended longest ago until `keep` remain.
  void EvictFinishedLocked(size_t keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<SourceEngine> EngineOf(const std::string& id);
  // The destinations' liveness: checks handshaken destination sessions
  // while there are any, sleeps otherwise.
  void WatchDestinations();
  void WakeHealth();

  DeviceRegistry& devices_;
  const v1::LimitsConfig limits_;
  const std::vector<dataplane::Transport*> transports_;
  const PeerClientFactory peer_clients_;
  const EngineTunables tunables_;
  Clock& clock_;
  // Measurements of past migrations, for first predictions.
  MeasureHistory history_;
  // Source sessions past limits.max_outgoing_sessions wait here.
  AdmissionQueue outgoing_;
  // Destination sessions past limits.max_incoming_sessions: their sources
  // are told their place and ask again.
  IncomingLine incoming_;
  absl::Mutex engines_mu_;
  std::vector<EngineThread> engines_ ABSL_GUARDED_BY(engines_mu_);
  absl::Mutex mu_;
  std::map<std::string, Entry> sessions_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint32_t> watchers_{0};
  Journal* journal_ = nullptr;
  DaemonEvents* events_ = &DaemonEvents::Ignored();
  // The journal hook of a new record.
  void Journalled(SessionRecord& record);
  absl::StatusOr<v1::HeartbeatResponse> RestoredAnswer(const std::string& id);
  // Restore() of one interrupted session: its new phase and error.
  std::pair<v1::Phase, std::string> Recover(const v1::JournalSession& js);
  // A destination restarted in its commit (after the load): its devices to
  // RUNNING through RUNNING_P2P; COMPLETED, or FAILED naming what failed.
  std::pair<v1::Phase, std::string> FinishCommit(const v1::JournalSession& js,
                                                 const std::string& during);
  // A source session restored IN_DOUBT (restarted during its commit): asks
  // the destination for the outcome (backoff 50 ms to 1 s) until it says,
  // an operator resolves it, or the daemon stops; then resumes or releases
  // its devices.
  void ResolveRestored(std::shared_ptr<SessionRecord> record,
                       v1::JournalSession js);
  absl::Mutex doubt_mu_;
  bool doubt_stop_ ABSL_GUARDED_BY(doubt_mu_) = false;
  std::vector<std::thread> doubts_ ABSL_GUARDED_BY(engines_mu_);
  const absl::Duration liveness_;
  absl::Mutex health_mu_;
  absl::CondVar health_cv_;
  bool health_stop_ ABSL_GUARDED_BY(health_mu_) = false;
  bool health_wake_ ABSL_GUARDED_BY(health_mu_) = false;
  std::thread health_;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SESSION_SESSION_MANAGER_H_
