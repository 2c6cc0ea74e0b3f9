#include "daemon/source/session_policy.h"

#include "proto/convert.h"

namespace vmig::daemon {

SessionPolicy ReadPolicy(const SessionRecord& session) {
  SessionPolicy pol;
  session.Read([&](const v1::Session& s) {
    pol.budget = FromProto(s.downtime_budget());
    pol.max_precopy = s.precopy().has_max_precopy()
                          ? FromProto(s.precopy().max_precopy())
                          : absl::Seconds(60);
    pol.manual = s.switchover_mode() == v1::SWITCHOVER_MODE_MANUAL;
    pol.allow_overrun = s.allow_budget_overrun();
    pol.max_bandwidth = s.max_bandwidth();
    pol.switchover_bandwidth = s.switchover_bandwidth();
    switch (s.precopy().on_timeout()) {
      case v1::PrecopyPolicy::ON_TIMEOUT_FAIL:
        pol.fail_on_timeout = true;
        break;
      case v1::PrecopyPolicy::ON_TIMEOUT_SWITCH:
        pol.fail_on_timeout = false;
        break;
      default:
        pol.fail_on_timeout = !pol.allow_overrun;
    }
  });
  return pol;
}

}  // namespace vmig::daemon
