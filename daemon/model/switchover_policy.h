// The switchover decision, alone: figures and the policy in, a decision
// and its reason out. No clock, no devices, no peer: the source engine
// gathers the figures at every pre-copy step, asks, and acts (and a table
// test checks every row of the policy).
#ifndef VMIGD_DAEMON_MODEL_SWITCHOVER_POLICY_H_
#define VMIGD_DAEMON_MODEL_SWITCHOVER_POLICY_H_

#include <string>

#include "absl/time/time.h"

namespace vmig::daemon {

struct SwitchoverInputs {
  // The prediction's upper bound now, and with every pre-copy device
  // drained (the least downtime the session could promise).
  absl::Duration bound, floor_bound;
  absl::Duration budget;
  bool manual = false;                // SWITCHOVER_MODE_MANUAL
  bool switchover_requested = false;  // a Switchover call came
  bool allow_overrun = false;         // allow_budget_overrun
  bool fail_on_timeout = true;        // precopy.on_timeout resolved
  bool any_precopy = false;           // a device has PRE_COPY
  // The destination acknowledged the initial data (switchover-ack).
  bool ack_received = false;
  absl::Duration precopy_elapsed, max_precopy;
};

enum class SwitchoverDecision {
  kWait,    // pre-copy goes on
  kReady,   // manual: it fits; waiting for the Switchover call
  kSwitch,  // switch over now
  kRefuse,  // the budget cannot be met at all: fail, the source running
  kTimeout  // max_precopy passed with on_timeout FAIL: fail likewise
};

struct SwitchoverVerdict {
  SwitchoverDecision decision = SwitchoverDecision::kWait;
  // Why, for the log and the progress ("the prediction's bound fits").
  std::string reason;
  // kSwitch with the bound past the budget (as the request allows).
  bool over_budget = false;
};

SwitchoverVerdict DecideSwitchover(const SwitchoverInputs& in);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_MODEL_SWITCHOVER_POLICY_H_
