// The source side of a migration session, on a thread of its own: the
// handshake with the destination daemon, pre-copy with a downtime
// prediction, the lockstep switchover, the commit, and rollback on any
// failure before the commit.
#ifndef VMIGD_DAEMON_SOURCE_ENGINE_H_
#define VMIGD_DAEMON_SOURCE_ENGINE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon/device_registry.h"
#include "daemon/session_manager.h"
#include "dataplane/transport.h"
#include "vmig/v1/migration.pb.h"
#include "vmig/v1/peer.grpc.pb.h"

namespace vmig::daemon {

struct EngineTunables {
  absl::Duration monitor_interval = absl::Milliseconds(10);
  // A stream that moves no byte for this long while it has data means the
  // peer or the link is gone.
  absl::Duration stall_timeout = absl::Seconds(5);
  absl::Duration rpc_timeout = absl::Seconds(30);
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
  SourceEngine(std::shared_ptr<SessionRecord> session,
               v1::StartMigrationRequest request,
               dataplane::Transport& transport, DeviceRegistry& registry,
               EngineHistory& history, EngineTunables tunables = {});
  // The thread body: runs the session to COMPLETED, CANCELLED or FAILED.
  void Run();

 private:
  struct Device {
    std::string id, peer_id;
    std::shared_ptr<vfio::MigrationDevice> dev;
    vfio::MigrationFlags flags;
    bool precopy = false;
    uint32_t stream_id = 0;
    std::unique_ptr<vfio::DataSession> data;
    std::shared_ptr<dataplane::Stream> stream;
    uint64_t stop_copy_length = 0;
    // Pre-copy progress.
    // What STOP_COPY would still have to send, as last measured.
    uint64_t remaining() const {
      return precopy ? initial_bytes + dirty_bytes : stop_copy_length;
    }
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

  absl::Status Handshake();
  absl::Status StartPrecopy();
  // Returns when the switchover should start (OK) or the session must fail.
  absl::Status Precopy();
  absl::Status Switchover();
  absl::Status AddStream(Device& d);
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
  absl::Status SetStateAll(const std::vector<Device*>& devs,
                           vfio::DeviceState target, bool serial,
                           bool add_streams);

  std::shared_ptr<SessionRecord> session_;
  const v1::StartMigrationRequest req_;
  dataplane::Transport& transport_;
  DeviceRegistry& registry_;
  EngineHistory& history_;
  const EngineTunables tun_;
  std::unique_ptr<v1::PeerService::Stub> peer_;
  std::vector<Device> devs_;
  uint32_t wire_session_ = 0;
  uint64_t token_ = 0;
  dataplane::Endpoint peer_data_;
  // Measurements for the prediction.
  absl::Duration transition_ = absl::Milliseconds(1);
  absl::Duration slowest_arc_;  // of the last SetStateAll
  double link_rate_ = 0;        // bytes/s, all streams together
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
