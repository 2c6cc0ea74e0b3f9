// The source's half of liveness: a thread that sends the destination a
// heartbeat every interval and keeps what it last heard. The engine asks
// Check() between its steps: a destination that has been silent for the
// liveness bound, or that ended the session on its side (a failed stream,
// a device that could not take the state), fails the session with the
// destination's own words.
#ifndef VMIGD_DAEMON_SOURCE_PEER_MONITOR_H_
#define VMIGD_DAEMON_SOURCE_PEER_MONITOR_H_

#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/daemon_events.h"
#include "daemon/peer_client.h"

namespace vmig::daemon {

class PeerMonitor {
 public:
  // `peer` must outlive the monitor; `who` names the peer in errors.
  // A silent peer is told to `events` once.
  PeerMonitor(PeerClient& peer, std::string session_id, std::string who,
              absl::Duration interval, absl::Duration liveness,
              DaemonEvents& events = DaemonEvents::Ignored());
  ~PeerMonitor();
  PeerMonitor(const PeerMonitor&) = delete;
  PeerMonitor& operator=(const PeerMonitor&) = delete;

  // OK while the destination answers and its session goes on; otherwise
  // UNAVAILABLE (silent past the bound) or ABORTED (the destination ended
  // the session, with its error).
  absl::Status Check() const;

 private:
  void Run();

  PeerClient& peer_;
  const std::string session_id_, who_;
  const absl::Duration interval_, liveness_;
  DaemonEvents& events_;
  mutable absl::Mutex mu_;
  absl::CondVar stop_cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_answer_ ABSL_GUARDED_BY(mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  v1::HeartbeatResponse last_ ABSL_GUARDED_BY(mu_);
  bool lost_ ABSL_GUARDED_BY(mu_) = false;
  // Its silence is counted once (metrics), however often Check() sees it.
  mutable bool counted_silent_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_PEER_MONITOR_H_
