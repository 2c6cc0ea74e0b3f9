// What a daemon's sessions tell whoever counts them: a change of phase, a
// silent peer, a failed peer call. vmigd passes its metrics (DaemonMetrics)
// in; a test passes what it wants to see, or nothing. Passed in rather than
// reached through a global, so that a count belongs to one daemon.
#ifndef VMIGD_DAEMON_DAEMON_EVENTS_H_
#define VMIGD_DAEMON_DAEMON_EVENTS_H_

#include <string>

#include "vmig/v1/migration.pb.h"

namespace vmig::daemon {

class DaemonEvents {
 public:
  virtual ~DaemonEvents() = default;
  // A session's change of phase (`now` is its view after the change).
  virtual void PhaseChanged(v1::Phase from, const v1::Session& now) = 0;
  // A peer failed a session's liveness: the destination heard nothing from
  // its source (ROLE_DESTINATION), or the source from its destination.
  virtual void PeerSilent(v1::Role role) = 0;
  // A call to a peer daemon failed, by method and gRPC code name.
  virtual void PeerCallFailed(const std::string& method,
                              const std::string& code) = 0;

  // Events nobody counts (the default where none is passed).
  static DaemonEvents& Ignored();
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DAEMON_EVENTS_H_
