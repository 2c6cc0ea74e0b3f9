#include "daemon/model/switchover_policy.h"

namespace vmig::daemon {

SwitchoverVerdict DecideSwitchover(const SwitchoverInputs& in) {
  SwitchoverVerdict v;
  v.over_budget = in.bound > in.budget;
  auto is = [&](SwitchoverDecision d, const char* why) {
    v.decision = d;
    v.reason = why;
    return v;
  };
  // A budget even a drained pre-copy cannot meet is refused before any
  // device stops, unless overruns are allowed.
  if (!in.allow_overrun && in.floor_bound > in.budget)
    return is(SwitchoverDecision::kRefuse,
              "the budget is below the least downtime the session can "
              "promise");
  // The destination must hold the initial data before a switchover that
  // relies on it (VFIO's PRE_COPY contract).
  const bool fits =
      (!in.any_precopy || in.ack_received) && in.bound <= in.budget;
  if (in.switchover_requested)
    return is(SwitchoverDecision::kSwitch, "requested (manual)");
  if (!in.manual && fits)
    return is(SwitchoverDecision::kSwitch, "the prediction's bound fits");
  if (!in.any_precopy && !in.manual) {
    // Nothing can pre-copy, so waiting cannot shrink the stop-copy state;
    // the budget check let it through, so an overrun is allowed.
    return is(SwitchoverDecision::kSwitch,
              "no device supports PRE_COPY; over the budget, as "
              "allow_budget_overrun permits");
  }
  if (in.precopy_elapsed > in.max_precopy) {
    if (in.fail_on_timeout)
      return is(SwitchoverDecision::kTimeout,
                "pre-copy ran its max_precopy without the bound fitting");
    if (!in.manual)
      return is(SwitchoverDecision::kSwitch,
                "precopy.max_precopy reached; over the budget, as the "
                "request permits");
  }
  if (in.manual && fits)
    return is(SwitchoverDecision::kReady,
              "ready: waiting for a Switchover call (manual)");
  return is(SwitchoverDecision::kWait, "");
}

}  // namespace vmig::daemon
