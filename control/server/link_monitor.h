// Watches the data plane's links from the control side: logs every change,
// redials a memif client's link that went down (the peer daemon restarted),
// and reports whether every port is up (health's data-plane service).
#ifndef VMIGD_CONTROL_SERVER_LINK_MONITOR_H_
#define VMIGD_CONTROL_SERVER_LINK_MONITOR_H_

#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dataplane/transport.h"

namespace vmig::server {

class LinkMonitor {
 public:
  // `on_change(all_up)` runs once at the start and on every change, on the
  // monitor's thread. A link down for `redial_after` is redialled, at most
  // once per `redial_after`.
  LinkMonitor(std::vector<dataplane::Transport*> transports,
              std::function<void(bool all_up)> on_change,
              absl::Duration period = absl::Milliseconds(250),
              absl::Duration redial_after = absl::Milliseconds(500));
  ~LinkMonitor();
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

 private:
  struct Link {
    bool up = false;
    absl::Time down_since = absl::InfinitePast();
    absl::Time last_redial = absl::InfinitePast();
    std::string last_redial_error;  // logged once while it repeats
  };
  void Run();
  // One look at port `i`; true if it is up.
  bool Check(size_t i, absl::Time now);

  const std::vector<dataplane::Transport*> transports_;
  const std::function<void(bool)> on_change_;
  const absl::Duration period_, redial_after_;
  std::vector<Link> links_;  // the monitor thread's only
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_LINK_MONITOR_H_
