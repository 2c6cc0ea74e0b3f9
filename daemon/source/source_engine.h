// The source side of a migration session, on a thread of its own: the
// handshake with the destination daemon, pre-copy with a downtime
// prediction, the lockstep switchover, the commit, and rollback on any
// failure before the commit. It reaches the destination only through a
// PeerClient, moves its devices only through a DeviceGroup, predicts only
// with the downtime model. Its policy (deadlines, stall and liveness
// checks, pre-copy's pacing) reads time only from its Clock, which a test
// may step; what it measures (the link probe, a barrier's cost, the send
// rate) reads `wall_`, the real clock whatever `clock_` is, because a rate
// or a downtime in stepped time would be no measurement. No time is read
// but through one of the two.
#ifndef VMIGD_DAEMON_SOURCE_SOURCE_ENGINE_H_
#define VMIGD_DAEMON_SOURCE_SOURCE_ENGINE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "daemon/admission_queue.h"
#include "daemon/daemon_events.h"
#include "daemon/device_registry.h"
#include "daemon/link_probe.h"
#include "daemon/measures/measure_history.h"
#include "daemon/model/downtime_model.h"
#include "daemon/peer_client.h"
#include "daemon/session_keys.h"
#include "daemon/session_record.h"
#include "daemon/source/peer_monitor.h"
#include "dataplane/transport.h"
#include "vfio/device_group.h"
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
  struct Device {
    std::string id, peer_id;
    // Its entry in the measurement history (the device's source: its spec
    // or path, so that a device attached again differently is new).
    std::string history_key;
    bool precopy = false;
    // One arc of this device here, and at the destination.
    absl::Duration arc = absl::Milliseconds(1);
    Source arc_source = Source::kGuess;
    absl::Duration dest_arc = absl::Milliseconds(1);
    Source read_source = Source::kGuess;
    double read_floor = 0;  // from the history, when it has no rate
    // The destination device's write rate while it pushed back (0: never).
    double write_rate = 0;
    // Re-dirtied bytes/s during pre-copy, after the initial data.
    double dirty_rate = 0;
    bool dirty_armed = false;  // a sample after the initial data ended
    uint64_t dirty_seen = 0;   // pre-copy bytes read after initial_done
    absl::Duration last_arc;   // of the last SetStateAll
    uint32_t stream_id = 0;
    std::unique_ptr<vfio::DataSession> data;
    std::shared_ptr<dataplane::Stream> stream;
    uint64_t stop_copy_length = 0;
    // What STOP_COPY would still have to send, as last measured.
    uint64_t remaining() const {
      return precopy ? initial_bytes + dirty_bytes : stop_copy_length;
    }
    // Pre-copy progress.
    bool initial_done = false;
    uint64_t initial_offset = 0;
    uint64_t initial_bytes = 0, dirty_bytes = 0;
    double read_rate = 0;  // bytes/s while the device had data
    uint64_t last_bytes = 0;
    absl::Time last_sample;
    absl::Time last_progress;
    uint64_t bytes_sent = 0;  // last seen (the stream goes away at the end)
    // Stop-copy.
    uint64_t bytes_at_switchover = 0;
    absl::Duration transfer;
    uint64_t stream_bytes = 0;
    uint32_t caught_up = 0;
    uint64_t retransmits = 0;
  };
  // Timestamps of the switchover (CLOCK_MONOTONIC ns), for the report.
  // `end` is when the commit's acknowledgment arrived (this clock alone);
  // `dest_running` the destination's CLOCK_MONOTONIC at its last RUNNING.
  struct SwitchoverTimes {
    int64_t start = 0, quiesced = 0, transferred = 0, end = 0;
    int64_t dest_running = 0;
  };
  // The policy in force (UpdateSession may change it mid pre-copy).
  struct Policy {
    absl::Duration budget, max_precopy;
    bool manual = false, fail_on_timeout = true, allow_overrun = false;
    // Bytes/s (0: no cap of the session's own).
    uint64_t max_bandwidth = 0, switchover_bandwidth = 0;
  };

  void InitDevices(std::vector<std::string> ids,
                   std::vector<std::shared_ptr<vfio::MigrationDevice>> devs);
  // Waits in PHASE_QUEUED for a slot among limits.max_outgoing_sessions.
  absl::Status AwaitTurn();
  // Sleeps `d` in PHASE_QUEUED at `place` (the destination's line), or
  // less if cancelled.
  absl::Status WaitQueued(size_t place, absl::Duration d);
  absl::Status Handshake();
  // The rate the stop-copy will have: the link as measured, held to the
  // session's switchover cap and the port's cap. `*why` (if given) names
  // the cap that holds it ("" when none does).
  double SwitchoverRate(const Policy& pol, std::string* why = nullptr) const;
  // From the handshake's answer: the destination's MAC, the protection
  // (never weaker than this daemon's dataplane.cipher) and the keys.
  absl::Status AgreeProtection(const v1::HandshakeResponse& resp,
                               const KeyShare& share,
                               dataplane::Protection wanted);
  // Streams tun_.probe_bytes through the data plane: the first link rate.
  absl::Status ProbeLink();
  absl::Status StartPrecopy();
  // Returns when the switchover should start (OK) or the session must fail.
  absl::Status Precopy();
  // One pre-copy sample of every device: PRECOPY_INFO, rates, stalls.
  absl::Status SamplePrecopy(absl::Time now, bool* all_initial,
                             uint64_t* total_sent);
  absl::Status AskSwitchoverAck();
  Policy ReadPolicy() const;
  // The error for a budget below the smallest downtime the session could
  // promise (`floor`: the bound with every pre-copy device drained), with
  // its figures, its guesses and what would cure it.
  absl::Status BudgetUnreachable(const Policy& pol,
                                 const Prediction& floor) const;
  // Why the session does not switch over yet, with the figures.
  std::string WaitingReason(const Prediction& p, const Policy& pol) const;
  absl::Status Switchover();
  absl::Status StopCopy(const std::vector<Device*>& order, bool serial);
  absl::StatusOr<v1::CommitResponse> Commit(bool serial);
  // The commit's answer was lost: asks the destination (Abort, which fences
  // a commit that has not begun) until it tells the outcome or an operator
  // resolves the session. The devices stay stopped meanwhile.
  absl::StatusOr<v1::CommitResponse> LearnOutcome(const absl::Status& lost);
  // The destination's liveness and its side of the session, on the
  // control channel (heartbeats) and on the data plane: a running stream
  // whose receiver has not been heard for the liveness bound (its worker
  // asks an idle receiver for an ack every 250 ms) means the data path is
  // cut, even while the control channel lives. The data plane's clock is
  // CLOCK_MONOTONIC, whatever clock the engine's policy runs on.
  absl::Status CheckPeer() const;
  mutable int64_t last_path_check_ns_ = 0;
  void Report(const v1::CommitResponse& resp, const SwitchoverTimes& t,
              const Prediction& predicted, bool serial);
  // Which phase (and device) overran its prediction the most.
  std::string Overrun(const v1::CommitResponse& resp, const SwitchoverTimes& t,
                      const Prediction& predicted) const;
  // What this switchover measured, for later predictions.
  // Stop-copy's fixed cost, from how far this switchover's stop-copy went
  // past what the model explained.
  void LearnStopCopyOverhead(const SwitchoverTimes& t,
                             const Prediction& predicted, bool serial);
  void Learn(const v1::CommitResponse& resp, const SwitchoverTimes& t,
             bool serial);
  absl::Status AddStream(Device& d);
  absl::StatusOr<std::shared_ptr<dataplane::Stream>> OpenStream(
      uint32_t stream_id, vfio::DataSession* data);
  // The device's entry in group_ (devs_ and group_ share their order).
  vfio::DeviceGroup::Member& MemberOf(const Device& d) {
    return group_[static_cast<size_t>(&d - devs_.data())];
  }
  // MIG_DATA_SIZE now; the error names the device.
  absl::Status RefreshStopCopyLength(Device& d);
  // Waits for the streams to end; transfer times count from `since`.
  absl::Status WaitStreams(const std::vector<Device*>& devs, const char* phase,
                           absl::Time since);
  void Rollback(const absl::Status& why);
  void ReleaseStreams();
  Prediction Predict() const;
  // The prediction with every pre-copy device drained: the least downtime.
  Prediction PredictFloor() const;
  std::vector<DeviceTerms> Terms(bool drained) const;
  // The link, schedule, barrier and commit terms both predictions share.
  LinkTerms Link() const;
  // Progress and `phase` (unless the session has ended), and whatever `also`
  // sets, in one session update.
  void PublishProgress(v1::Phase phase,
                       const std::function<void(v1::Session&)>& also = {});
  // Takes what the history knows of `d`'s class for each term still a
  // guess (this daemon's own, a peer's, a calibration file's).
  void UseHistory(Device& d);
  bool Cancelled() const;
  // Moves `devs` to `target` in parallel (or one after another); data
  // sessions the arcs open go to their devices, with streams if asked.
  absl::Status SetStateAll(const std::vector<Device*>& devs,
                           vfio::DeviceState target, bool serial,
                           bool add_streams);

  std::shared_ptr<SessionRecord> session_;
  const v1::StartMigrationRequest req_;
  AdmissionQueue* const outgoing_;
  // The session's cap, which all its send streams share: max_bandwidth in
  // pre-copy, switchover_bandwidth from the switchover on (and for the
  // link probe, which measures the switchover's link).
  const std::shared_ptr<dataplane::RateLimiter> cap_;
  // The switchover has begun: new streams are urgent (served first).
  bool switching_ = false;
  dataplane::Transport& transport_;
  DeviceRegistry& registry_;
  MeasureHistory& history_;
  const std::unique_ptr<PeerClient> peer_;
  // How long a wait for a stream's end lasts before the engine looks at
  // cancels, stalls and its peer again.
  static constexpr absl::Duration kWaitTick = absl::Milliseconds(2);
  Clock& clock_;
  DaemonEvents* events_ = &DaemonEvents::Ignored();
  Clock& wall_ = Clock::Real();  // measurements (see the top of the file)
  const EngineTunables tun_;
  std::vector<std::string> ids_;  // as claimed, for the release
  vfio::DeviceGroup group_;
  std::vector<Device> devs_;
  bool handshake_sent_ = false;
  std::unique_ptr<PeerMonitor> monitor_;
  std::atomic<bool> shutdown_{false};
  // The outcome stayed unknown (shutdown): no rollback, devices stopped.
  bool in_doubt_ = false;
  uint32_t wire_session_ = 0;
  uint64_t token_ = 0;
  uint32_t probe_stream_id_ = 0;
  // The session's frame protection and this side's keys, agreed in the
  // handshake.
  dataplane::Protection protection_ = dataplane::Protection::kAes256Gcm;
  SessionKeys keys_{};
  dataplane::Endpoint peer_data_;
  // Measurements for the prediction.
  absl::Duration slowest_arc_;  // of the last SetStateAll
  // What the last parallel SetStateAll took beyond its slowest arc, and the
  // barrier cost on each side for the prediction.
  absl::Duration last_barrier_, source_barrier_, dest_barrier_;
  double link_rate_ = 0;  // bytes/s, all streams together
  Source link_source_ = Source::kGuess;
  absl::Duration commit_overhead_ = absl::Milliseconds(2);
  absl::Duration round_trip_ = absl::InfiniteDuration();  // fastest seen
  bool same_host_ = false;  // both daemons on one boot: one monotonic clock
  absl::Time start_, precopy_start_;
  // The switchover went ahead with the bound past the budget (as allowed).
  bool over_budget_ = false;
  // For the progress: the prediction's smallest bound so far, and why the
  // session is waiting.
  absl::Duration best_bound_ = absl::InfiniteDuration();
  std::string waiting_;
  absl::Time last_link_sample_;
  // The session's send rate for the progress: sampled at most every 500 ms.
  absl::Time rate_at_ = absl::InfinitePast();
  uint64_t rate_bytes_ = 0;
  double send_rate_ = 0;
  uint64_t last_link_total_ = 0;
  absl::Time last_ack_try_ = absl::InfinitePast();
  absl::Time last_debug_ = absl::InfinitePast();  // the last debug figures
  bool ack_received_ = false;
  bool committed_ = false;
  // The terminal phase, published by Run() only once the streams are gone
  // and the devices released: a client that sees it may claim them at once.
  v1::Phase end_phase_ = v1::PHASE_UNSPECIFIED;
  std::string end_error_;
  v1::DowntimeReport end_report_;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_SOURCE_ENGINE_H_
