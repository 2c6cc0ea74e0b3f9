// The daemon's own metric families (counters and histograms over sessions
// and peers) and the collectors that read, at scrape time, what is kept
// elsewhere: the sessions that run, the data plane's per-worker counters
// and each port's link. Names follow Prometheus conventions: vmigd_
// prefix, base units in the name (seconds, bytes), _total on counters.
#ifndef VMIGD_DAEMON_SESSION_DAEMON_METRICS_H_
#define VMIGD_DAEMON_SESSION_DAEMON_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "daemon/daemon_events.h"
#include "dataplane/transport.h"
#include "metrics/registry.h"
#include "vmig/v1/migration.pb.h"

namespace vmig::daemon {

class SessionManager;

// The daemon's events as metric families of `registry` (which must outlive
// it): outcomes when a session ends (with its downtime, prediction error
// and bytes), rollbacks by the phase they left, sessions that became in
// doubt, silent peers, failed peer calls.
class DaemonMetrics final : public DaemonEvents {
 public:
  explicit DaemonMetrics(metrics::Registry& registry);
  ~DaemonMetrics() override;
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  void PhaseChanged(v1::Phase from, const v1::Session& now) override;
  void PeerSilent(v1::Role role) override;
  void PeerCallFailed(const std::string& method,
                      const std::string& code) override;

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

// Adds to `registry` the collectors of the sessions and the data plane;
// they read `sessions` and `transports` until the returned handles go.
std::vector<std::unique_ptr<metrics::Registry::CollectorHandle>>
AddDaemonCollectors(metrics::Registry& registry, SessionManager& sessions,
                    const std::vector<dataplane::Transport*>& transports);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SESSION_DAEMON_METRICS_H_
