// Migration sessions on this daemon: their records, limits, watchers, and
// the request validation every API call goes through. The engine that moves
// a source session's devices lives behind MigrationEngine.
#ifndef VMIGD_DAEMON_SESSION_MANAGER_H_
#define VMIGD_DAEMON_SESSION_MANAGER_H_

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
#include "daemon/device_registry.h"
#include "dataplane/transport.h"
#include "vfio/device.h"
#include "vmig/v1/config.pb.h"
#include "vmig/v1/migration.pb.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

// One session's state. The proto is the source of truth for what callers
// see; every change bumps `version` and wakes watchers.
class SessionRecord {
 public:
  SessionRecord(std::string id, v1::Role role);

  const std::string& id() const { return id_; }
  std::string name() const { return "sessions/" + id_; }
  v1::Role role() const { return role_; }

  v1::Session Snapshot() const;
  v1::Phase phase() const;
  // Applies `change` to the session proto and wakes watchers.
  void Update(const std::function<void(v1::Session&)>& change);
  // Waits until the version differs from `seen` or `until` passes.
  uint64_t WaitForChange(uint64_t seen, absl::Time until) const;

  // Devices this session holds, in request order, and their ids.
  std::vector<std::string> device_ids;
  std::vector<std::shared_ptr<vfio::MigrationDevice>> devices;
  // Destination: the RESUMING data sessions, one per device, and their
  // data-plane streams once the source has shaken hands.
  std::vector<std::unique_ptr<vfio::DataSession>> incoming;
  std::vector<std::shared_ptr<dataplane::Stream>> streams;
  // The session's id on the wire (set at the handshake); read by status.
  std::atomic<uint32_t> wire_session_id{0};
  bool leave_stopped = false;
  // Serializes the destination's peer calls with local cancels.
  absl::Mutex op_mu;

  // Source: requests from the API to the engine thread.
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> switchover_requested{false};
  std::atomic<bool> committing{false};

 private:
  const std::string id_;
  const v1::Role role_;
  mutable absl::Mutex mu_;
  mutable absl::CondVar changed_;
  v1::Session session_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
};

bool IsTerminal(v1::Phase p);
class EngineHistory;

class SessionManager {
 public:
  // `transport` may be null: the daemon then refuses migrations.
  SessionManager(DeviceRegistry& devices, const v1::LimitsConfig& limits,
                 dataplane::Transport* transport = nullptr);
  ~SessionManager();

  absl::StatusOr<v1::Session> PrepareIncoming(
      const v1::PrepareIncomingRequest& req);
  absl::StatusOr<v1::Session> StartMigration(
      const v1::StartMigrationRequest& req);
  absl::StatusOr<v1::Session> Switchover(absl::string_view name);
  absl::StatusOr<v1::Session> Cancel(absl::string_view name);
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

  // The destination's side of PeerService.
  absl::StatusOr<v1::HandshakeResponse> PeerHandshake(
      const v1::HandshakeRequest& req);
  absl::StatusOr<v1::SwitchoverAckResponse> PeerSwitchoverAck(
      const v1::SwitchoverAckRequest& req);
  absl::StatusOr<v1::CommitResponse> PeerCommit(const v1::CommitRequest& req);
  absl::Status PeerAbort(const v1::AbortRequest& req);

 private:
  absl::StatusOr<std::shared_ptr<SessionRecord>> Find(absl::string_view name,
                                                      absl::string_view field);
  absl::Status AdmitNew(const std::string& id);
  void Register(std::shared_ptr<SessionRecord> s);
  // Returns a destination's devices to RUNNING (reset) and releases them.
  void RollBackDestination(SessionRecord& s, v1::Phase phase,
                           const std::string& why);

  absl::StatusOr<std::shared_ptr<SessionRecord>> FindDestination(
      const std::string& id);
  void CancelStreams(SessionRecord& s);

  DeviceRegistry& devices_;
  const v1::LimitsConfig limits_;
  dataplane::Transport* const transport_;
  // Measurements of past migrations, for first predictions.
  std::unique_ptr<EngineHistory> history_;
  // Source sessions' engine threads, joined on shutdown.
  absl::Mutex engines_mu_;
  std::vector<std::thread> engines_ ABSL_GUARDED_BY(engines_mu_);
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<SessionRecord>> sessions_
      ABSL_GUARDED_BY(mu_);
  std::atomic<uint32_t> watchers_{0};
};

// Runs f(i) for i in [0, n) on n threads and waits for all: device
// transitions are issued in parallel so that a barrier costs one transition.
void ParallelFor(size_t n, const std::function<void(size_t)>& f);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SESSION_MANAGER_H_
