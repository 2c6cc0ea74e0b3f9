// The data plane's status over gRPC reports every counter the workers keep:
// a counter added to dataplane/counters.h without a field here fails this
// test rather than going missing from `vmigctl dataplane status`.
#include "daemon/dataplane_status.h"

#include <map>
#include <string>

#include "dataplane/counters.h"
#include "gtest/gtest.h"
#include "vmig/v1/dataplane.pb.h"

namespace vmig::daemon {
namespace {

TEST(DataplaneStatusTest, EveryWorkerCounterHasItsFieldInThePortStatus) {
  // The injected faults are grouped in a message of their own.
  const std::map<std::string, std::string> injected = {
      {"injected_drop", "dropped"},
      {"injected_duplicate", "duplicated"},
      {"injected_reorder", "reordered"},
      {"injected_corrupt", "corrupted"},
      {"injected_delay", "delayed"}};
  for (const char* name : dataplane::kCounterNames) {
    auto it = injected.find(name);
    if (it != injected.end()) {
      EXPECT_NE(v1::InjectedFaults::descriptor()->FindFieldByName(it->second),
                nullptr)
          << name;
    } else {
      EXPECT_NE(v1::PortStatus::descriptor()->FindFieldByName(name), nullptr)
          << "counter " << name << " has no PortStatus field";
    }
  }
}

TEST(DataplaneStatusTest, EachCounterLandsInItsOwnField) {
  // Every counter a distinct value: each field must carry its own.
  dataplane::CounterSnapshot c;
  for (size_t k = 0; k < dataplane::kNumCounters; ++k) c.value[k] = 1000 + k;
  v1::PortStatus p;
  SetCounters(c, p);
  EXPECT_EQ(p.tx_frames(), 1000 + dataplane::kTxFrames);
  EXPECT_EQ(p.replays(), 1000 + dataplane::kReplays);
  EXPECT_EQ(p.cap_waits(), 1000 + dataplane::kCapWaits);
  EXPECT_EQ(p.injected().dropped(), 1000 + dataplane::kInjectedDrop);
  EXPECT_EQ(p.injected().delayed(), 1000 + dataplane::kInjectedDelay);
  EXPECT_EQ(p.handoff_drops(), 1000 + dataplane::kHandoffDrops);
}

}  // namespace
}  // namespace vmig::daemon
