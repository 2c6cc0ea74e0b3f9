// The source side of a migration session, on a thread of its own: the
// handshake with the destination daemon, pre-copy with a downtime
// prediction, the lockstep switchover, the commit, and rollback on any
// failure before the commit. It reaches the destination only through a
// PeerClient, moves its devices only through a DeviceGroup, predicts only
// with the downtime model, and reads time only from its Clock.
#ifndef VMIGD_DAEMON_SOURCE_ENGINE_H_
#define VMIGD_DAEMON_SOURCE_ENGINE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "daemon/device_registry.h"
#include "daemon/downtime_model.h"
#include "daemon/peer_client.h"
#include "daemon/peer_monitor.h"
#include "daemon/session_keys.h"
#include "daemon/session_record.h"
#include "dataplane/transport.h"
#include "vfio/device_group.h"
#include "vmig/v1/migration.pb.h"

namespace vmig::daemon {

struct EngineTunables {
  absl::Duration monitor_interval = absl::Milliseconds(10);
  // A stream that moves no byte for this long while it has data means the
  // peer or the link is gone.
  absl::Duration stall_timeout = absl::Seconds(5);
};

// What earlier migrations on this daemon measured, so that a session's first
// prediction starts from the link and arcs seen before, not from a guess.
// A session whose devices enter PRE_COPY measures its own arc and uses that
// instead; devices without PRE_COPY make no transition before the
// switchover, so their prediction rests on the history alone.
class EngineHistory {
 public:
  void Record(double link_bytes_per_s, absl::Duration arc) {
    absl::MutexLock lock(&mu_);
    link_ = link_ > 0 ? 0.5 * link_ + 0.5 * link_bytes_per_s : link_bytes_per_s;
    arc_ = arc;
  }
  double link() const {
    absl::MutexLock lock(&mu_);
    return link_;
  }
  absl::Duration arc() const {
    absl::MutexLock lock(&mu_);
    return arc_;
  }

 private:
  mutable absl::Mutex mu_;
  double link_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration arc_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

class SourceEngine {
 public:
  // `devices` (named by `device_ids`, in the request's order) are claimed
  // for the session in `registry`; the engine releases them at the end.
  SourceEngine(std::shared_ptr<SessionRecord> session,
               v1::StartMigrationRequest request,
               std::vector<std::string> device_ids,
               std::vector<std::shared_ptr<vfio::MigrationDevice>> devices,
               dataplane::Transport& transport, DeviceRegistry& registry,
               EngineHistory& history, std::unique_ptr<PeerClient> peer,
               Clock& clock, EngineTunables tunables = {});
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
    bool precopy = false;
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
  struct SwitchoverTimes {
    int64_t start = 0, quiesced = 0, transferred = 0, end = 0;
  };

  void InitDevices(std::vector<std::string> ids,
                   std::vector<std::shared_ptr<vfio::MigrationDevice>> devs);
  absl::Status Handshake();
  // From the handshake's answer: the destination's MAC, the protection
  // (never weaker than this daemon's dataplane.cipher) and the keys.
  absl::Status AgreeProtection(const v1::HandshakeResponse& resp,
                               const KeyShare& share,
                               dataplane::Protection wanted);
  absl::Status StartPrecopy();
  // Returns when the switchover should start (OK) or the session must fail.
  absl::Status Precopy();
  // One pre-copy sample of every device: PRECOPY_INFO, rates, stalls.
  absl::Status SamplePrecopy(absl::Time now, bool* all_initial,
                             uint64_t* total_sent);
  absl::Status AskSwitchoverAck();
  absl::Status Switchover();
  absl::Status StopCopy(const std::vector<Device*>& order, bool serial);
  absl::StatusOr<v1::CommitResponse> Commit(bool serial);
  // The commit's answer was lost: asks the destination (Abort, which fences
  // a commit that has not begun) until it tells the outcome or an operator
  // resolves the session. The devices stay stopped meanwhile.
  absl::StatusOr<v1::CommitResponse> LearnOutcome(const absl::Status& lost);
  // The destination's liveness and its side of the session.
  absl::Status CheckPeer() const {
    return monitor_ ? monitor_->Check() : absl::OkStatus();
  }
  void Report(const v1::CommitResponse& resp, const SwitchoverTimes& t,
              absl::Duration predicted, bool serial);
  absl::Status AddStream(Device& d);
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
  absl::Duration Predict() const;
  // Progress and `phase` (unless the session has ended), and whatever `also`
  // sets, in one session update.
  void PublishProgress(v1::Phase phase,
                       const std::function<void(v1::Session&)>& also = {});
  bool Cancelled() const;
  // Moves `devs` to `target` in parallel (or one after another); data
  // sessions the arcs open go to their devices, with streams if asked.
  absl::Status SetStateAll(const std::vector<Device*>& devs,
                           vfio::DeviceState target, bool serial,
                           bool add_streams);

  std::shared_ptr<SessionRecord> session_;
  const v1::StartMigrationRequest req_;
  dataplane::Transport& transport_;
  DeviceRegistry& registry_;
  EngineHistory& history_;
  const std::unique_ptr<PeerClient> peer_;
  Clock& clock_;
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
  // The session's frame protection and this side's keys, agreed in the
  // handshake.
  dataplane::Protection protection_ = dataplane::Protection::kAes256Gcm;
  SessionKeys keys_{};
  dataplane::Endpoint peer_data_;
  // Measurements for the prediction.
  absl::Duration transition_ = absl::Milliseconds(1);
  absl::Duration slowest_arc_;  // of the last SetStateAll
  double link_rate_ = 0;        // bytes/s, all streams together
  absl::Time last_link_sample_;
  uint64_t last_link_total_ = 0;
  absl::Time last_ack_try_ = absl::InfinitePast();
  bool ack_received_ = false;
  bool committed_ = false;
  // The terminal phase, published by Run() only once the streams are gone
  // and the devices released: a client that sees it may claim them at once.
  v1::Phase end_phase_ = v1::PHASE_UNSPECIFIED;
  std::string end_error_;
  v1::DowntimeReport end_report_;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_ENGINE_H_
