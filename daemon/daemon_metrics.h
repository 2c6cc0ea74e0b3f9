// The daemon's own metric families (counters and histograms over sessions
// and peers) and the collectors that read, at scrape time, what is kept
// elsewhere: the sessions that run, the data plane's per-worker counters
// and each port's link. Names follow Prometheus conventions: vmigd_
// prefix, base units in the name (seconds, bytes), _total on counters.
#ifndef VMIGD_DAEMON_DAEMON_METRICS_H_
#define VMIGD_DAEMON_DAEMON_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "dataplane/transport.h"
#include "metrics/registry.h"
#include "vmig/v1/migration.pb.h"

namespace vmig::daemon {

class SessionManager;

// A session's change of phase: counts outcomes when it ends (with its
// downtime, prediction error and bytes), rollbacks by the phase they left,
// and sessions that became in doubt.
void RecordPhaseChange(v1::Phase from, const v1::Session& now);

// A peer that failed a session's liveness: the destination heard nothing
// from its source, or the source nothing from its destination.
void RecordPeerSilent(v1::Role role);

// A peer call that failed, by method and gRPC code name.
void RecordPeerCallFailure(const std::string& method, const std::string& code);

// Adds to `registry` the collectors of the sessions and the data plane;
// they read `sessions` and `transports` until the returned handles go.
std::vector<std::unique_ptr<metrics::Registry::CollectorHandle>>
AddDaemonCollectors(metrics::Registry& registry, SessionManager& sessions,
                    const std::vector<dataplane::Transport*>& transports);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DAEMON_METRICS_H_
