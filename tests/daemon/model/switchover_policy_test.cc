// The switchover policy, row by row: the prediction's bound and floor
// against the budget, the mode, a Switchover call, the switchover-ack,
// devices without PRE_COPY, max_precopy with each on_timeout.
#include "daemon/model/switchover_policy.h"

#include <string>

#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

using D = SwitchoverDecision;
using absl::Milliseconds;
using absl::Seconds;

struct Row {
  const char* name;
  SwitchoverInputs in;
  D want;
  bool over_budget;
};

// A pre-copy session in auto mode, acknowledged, 10 s into 60, whose bound
// (80 ms) fits its budget (100 ms) and whose floor (20 ms) does too.
SwitchoverInputs Base() {
  SwitchoverInputs in;
  in.bound = Milliseconds(80);
  in.floor_bound = Milliseconds(20);
  in.budget = Milliseconds(100);
  in.any_precopy = true;
  in.ack_received = true;
  in.precopy_elapsed = Seconds(10);
  in.max_precopy = Seconds(60);
  in.fail_on_timeout = true;
  return in;
}

template <typename F>
SwitchoverInputs With(F f) {
  SwitchoverInputs in = Base();
  f(in);
  return in;
}

TEST(SwitchoverPolicyTest, EveryRowOfThePolicy) {
  const Row rows[] = {
      {"auto, the bound fits: switch", Base(), D::kSwitch, false},
      {"auto, the bound is past the budget: wait",
       With([](auto& i) { i.bound = Milliseconds(150); }), D::kWait, true},
      {"auto, fits but no switchover-ack yet: wait",
       With([](auto& i) { i.ack_received = false; }), D::kWait, false},
      {"no PRE_COPY device needs no ack: switch", With([](auto& i) {
         i.any_precopy = false;
         i.ack_received = false;
       }),
       D::kSwitch, false},
      {"no PRE_COPY, past the budget, overrun allowed: switch (over)",
       With([](auto& i) {
         i.any_precopy = false;
         i.bound = Milliseconds(300);
         i.floor_bound = Milliseconds(300);
         i.allow_overrun = true;
       }),
       D::kSwitch, true},
      {"the floor past the budget: refuse", With([](auto& i) {
         i.floor_bound = Milliseconds(101);
         i.bound = Milliseconds(150);
       }),
       D::kRefuse, true},
      {"the floor past the budget, overrun allowed: wait", With([](auto& i) {
         i.floor_bound = Milliseconds(101);
         i.bound = Milliseconds(150);
         i.allow_overrun = true;
       }),
       D::kWait, true},
      {"refusal comes before a Switchover call", With([](auto& i) {
         i.floor_bound = Milliseconds(200);
         i.manual = true;
         i.switchover_requested = true;
       }),
       D::kRefuse, false},
      {"manual, fits: ready", With([](auto& i) { i.manual = true; }), D::kReady,
       false},
      {"manual, does not fit: wait", With([](auto& i) {
         i.manual = true;
         i.bound = Milliseconds(150);
       }),
       D::kWait, true},
      {"manual, a Switchover call: switch even past the budget",
       With([](auto& i) {
         i.manual = true;
         i.bound = Milliseconds(150);
         i.switchover_requested = true;
       }),
       D::kSwitch, true},
      {"manual without PRE_COPY waits for its call", With([](auto& i) {
         i.manual = true;
         i.any_precopy = false;
         i.bound = Milliseconds(150);
       }),
       D::kWait, true},
      {"max_precopy passed, on_timeout FAIL: time out", With([](auto& i) {
         i.bound = Milliseconds(150);
         i.precopy_elapsed = Seconds(61);
       }),
       D::kTimeout, true},
      {"max_precopy passed, on_timeout SWITCH: switch (over)",
       With([](auto& i) {
         i.bound = Milliseconds(150);
         i.precopy_elapsed = Seconds(61);
         i.fail_on_timeout = false;
       }),
       D::kSwitch, true},
      {"max_precopy passed in manual, SWITCH: still waits for the call",
       With([](auto& i) {
         i.manual = true;
         i.bound = Milliseconds(150);
         i.precopy_elapsed = Seconds(61);
         i.fail_on_timeout = false;
       }),
       D::kWait, true},
      {"max_precopy passed but it fits: switch",
       With([](auto& i) { i.precopy_elapsed = Seconds(61); }), D::kSwitch,
       false},
      {"exactly the budget fits",
       With([](auto& i) { i.bound = Milliseconds(100); }), D::kSwitch, false},
  };
  for (const Row& r : rows) {
    const SwitchoverVerdict v = DecideSwitchover(r.in);
    EXPECT_EQ(static_cast<int>(v.decision), static_cast<int>(r.want))
        << r.name << ": " << v.reason;
    EXPECT_EQ(v.over_budget, r.over_budget) << r.name;
    if (v.decision != D::kWait) {
      EXPECT_FALSE(v.reason.empty()) << r.name;
    }
  }
}

}  // namespace
}  // namespace vmig::daemon
