#include "control/server/link_monitor.h"

#include "absl/time/clock.h"
#include "common/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace vmig::server {

LinkMonitor::LinkMonitor(std::vector<dataplane::Transport*> transports,
                         std::function<void(bool)> on_change,
                         absl::Duration period, absl::Duration redial_after)
    : transports_(std::move(transports)),
      on_change_(std::move(on_change)),
      period_(period),
      redial_after_(redial_after),
      links_(transports_.size()) {
  thread_ = std::thread([this] { Run(); });
}

LinkMonitor::~LinkMonitor() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.Signal();
  }
  thread_.join();
}

bool LinkMonitor::Check(size_t i, absl::Time now) {
  dataplane::Transport& t = *transports_[i];
  Link& l = links_[i];
  const std::string& name = t.config().port.name;
  const bool up = t.LinkUp();
  if (up != l.up) {
    if (up) {
      spdlog::info("data plane: port {} link up", name);
    } else {
      spdlog::warn("data plane: port {} link down", name);
      l.down_since = now;
    }
    l.up = up;
    l.last_redial_error.clear();
  }
  if (!up && t.CanReconnect() && now - l.down_since >= redial_after_ &&
      now - l.last_redial >= redial_after_) {
    l.last_redial = now;
    spdlog::debug("data plane: port {}: redialling its memif peer", name);
    absl::Status s = t.Reconnect();
    // A failure once while it repeats: the peer may stay away for long.
    if (!s.ok() && s.message() != l.last_redial_error) {
      spdlog::warn("data plane: port {}: redial: {}", name, s.message());
      l.last_redial_error = std::string(s.message());
    }
    if (s.ok()) spdlog::info("data plane: port {}: redialled", name);
  }
  return up;
}

void LinkMonitor::Run() {
  int last_all = -1;
  for (;;) {
    bool all = true;
    const absl::Time now = absl::Now();
    for (size_t i = 0; i < transports_.size(); ++i) all = Check(i, now) && all;
    if (static_cast<int>(all) != last_all) {
      last_all = all;
      if (on_change_) on_change_(all);
    }
    absl::MutexLock lock(&mu_);
    if (!stop_) cv_.WaitWithTimeout(&mu_, period_);
    if (stop_) return;
  }
}

}  // namespace vmig::server
