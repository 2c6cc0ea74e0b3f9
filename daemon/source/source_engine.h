// The source side of a migration session, on a thread of its own: it
// sequences the session (its turn, the handshake, the link probe, pre-copy
// until the switchover policy says go, the lockstep switchover, the commit,
// rollback on any failure before the commit). The jobs are others': the
// data path moves devices and streams them, the pre-copy tracker samples
// progress, the predictor predicts and learns, the switchover policy
// (daemon/model) decides. It reaches the destination only through a
// PeerClient. Its policy (deadlines, stall and liveness checks, pre-copy's
// pacing) reads time only from its Clock, which a test may step; what is
// measured (the probe, arcs, barriers, the send rate) reads the real clock,
// because a rate or a downtime in stepped time would be no measurement.
#ifndef VMIGD_DAEMON_SOURCE_SOURCE_ENGINE_H_
#define VMIGD_DAEMON_SOURCE_SOURCE_ENGINE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "daemon/admission_queue.h"
#include "daemon/daemon_events.h"
#include "daemon/device_registry.h"
#include "daemon/link_probe.h"
#include "daemon/measures/measure_history.h"
#include "daemon/peer_client.h"
#include "daemon/session_keys.h"
#include "daemon/session_record.h"
#include "daemon/source/commit_call.h"
#include "daemon/source/peer_monitor.h"
#include "daemon/source/precopy_phase.h"
#include "daemon/source/precopy_tracker.h"
#include "daemon/source/session_policy.h"
#include "daemon/source/session_predictor.h"
#include "daemon/source/session_progress.h"
#include "daemon/source/source_data_path.h"
#include "daemon/source/source_device.h"
#include "daemon/source/switchover_report.h"
#include "dataplane/transport.h"
#include "vmig/v1/migration.pb.h"

namespace vmig::daemon {

struct EngineTunables {
  absl::Duration monitor_interval = absl::Milliseconds(10);
  // A stream that moves no byte for this long while it has data means the
  // peer or the link is gone.
  absl::Duration stall_timeout = absl::Seconds(5);
  // The link probe after the handshake (0: none; the history, or a guess,
  // stands in until pre-copy measures the link).
  uint64_t probe_bytes = kDefaultProbeBytes;
};

class SourceEngine {
 public:
  // `devices` (named by `device_ids`, in the request's order) are claimed
  // for the session in `registry`; the engine releases them at the end.
  // `outgoing` (null: no limit) is the line the session joined before it
  // was made: Run() waits there for its turn and leaves it at the end.
  SourceEngine(std::shared_ptr<SessionRecord> session,
               v1::StartMigrationRequest request,
               std::vector<std::string> device_ids,
               std::vector<std::shared_ptr<vfio::MigrationDevice>> devices,
               dataplane::Transport& transport, DeviceRegistry& registry,
               MeasureHistory& history, std::unique_ptr<PeerClient> peer,
               Clock& clock, EngineTunables tunables = {},
               AdmissionQueue* outgoing = nullptr);
  // Where a silent destination is told (before Run; default: nobody).
  void set_events(DaemonEvents* events) { events_ = events; }
  // The thread body: runs the session to COMPLETED, CANCELLED or FAILED.
  void Run();
  // From the API: cancel now (calls to a hung peer are cut short) unless
  // the commit has begun.
  void RequestCancel();
  // From a daemon that stops: as a cancel, and a session in doubt stops
  // asking, its devices left stopped (a restart finds them so).
  void RequestShutdown();

 private:
  void InitDevices(std::vector<std::shared_ptr<vfio::MigrationDevice>> devs);
  // Waits in PHASE_QUEUED for a slot among limits.max_outgoing_sessions.
  absl::Status AwaitTurn();
  // Sleeps `d` in PHASE_QUEUED at `place` (the destination's line), or
  // less: a cancel wakes it.
  absl::Status WaitQueued(size_t place, absl::Duration d);
  absl::Status Handshake();
  // What the destination said of its devices, its barrier and its wire.
  absl::Status TakeHandshake(const v1::HandshakeResponse& resp,
                             const KeyShare& share, bool same_boot);
  absl::Status ProbeLink();
  absl::Status StartPrecopy();
  absl::Status Switchover();
  // The commit (IN_DOUBT while its lost answer is asked for).
  absl::StatusOr<v1::CommitResponse> Commit(bool serial);
  // The report of a committed switchover, here and at the destination.
  void Report(const v1::CommitResponse& resp, const SwitchoverTimes& t,
              const Prediction& predicted);
  void Rollback(const absl::Status& why);
  bool Cancelled() const;
  // The destination's liveness: the heartbeats, and its data plane.
  absl::Status CheckPeer() const;
  // What a wait on the data path checks: a cancel, then the peer.
  absl::Status CheckWait(absl::string_view phase) const;
  // Progress and `phase` (unless the session has ended), and whatever `also`
  // sets, in one session update.
  void PublishProgress(v1::Phase phase,
                       const std::function<void(v1::Session&)>& also = {});
  SessionPolicy Policy() const { return ReadPolicy(*session_); }

  std::shared_ptr<SessionRecord> session_;
  const v1::StartMigrationRequest req_;
  AdmissionQueue* const outgoing_;
  dataplane::Transport& transport_;
  DeviceRegistry& registry_;
  MeasureHistory& history_;
  const std::unique_ptr<PeerClient> peer_;
  Clock& clock_;
  DaemonEvents* events_ = &DaemonEvents::Ignored();
  const EngineTunables tun_;
  const std::vector<std::string> ids_;  // as claimed, for the release
  std::vector<SourceDevice> devs_;
  SourceDataPath path_;
  SessionPredictor predictor_;
  PrecopyTracker tracker_;
  PrecopyPhase precopy_;
  SessionProgress progress_;
  std::atomic<bool> shutdown_{false};
  // Told once, at the first cancel: a queued wait wakes on it.
  std::atomic<bool> cancel_told_{false};
  absl::Notification cancel_event_;
  // An outcome it leaves unknown (shutdown) means no rollback: the devices
  // stay stopped.
  CommitCall commit_;
  bool handshake_sent_ = false;
  std::unique_ptr<PeerMonitor> monitor_;
  uint32_t probe_stream_id_ = 0;
  dataplane::Protection protection_ = dataplane::Protection::kAes256Gcm;
  bool same_host_ = false;  // both daemons on one boot: one monotonic clock
  absl::Time start_;
  bool committed_ = false;
  // The terminal phase, published by Run() only once the streams are gone
  // and the devices released: a client that sees it may claim them at once.
  v1::Phase end_phase_ = v1::PHASE_UNSPECIFIED;
  std::string end_error_;
  v1::DowntimeReport end_report_;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_SOURCE_ENGINE_H_
