#include "daemon/daemon_events.h"

namespace vmig::daemon {
namespace {

class IgnoredEvents final : public DaemonEvents {
 public:
  void PhaseChanged(v1::Phase, const v1::Session&) override {}
  void PeerSilent(v1::Role) override {}
  void PeerCallFailed(const std::string&, const std::string&) override {}
};

}  // namespace

DaemonEvents& DaemonEvents::Ignored() {
  static IgnoredEvents ignored;  // stateless: nothing to share
  return ignored;
}

}  // namespace vmig::daemon
