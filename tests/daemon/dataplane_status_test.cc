// The data plane's status over gRPC reports every counter the workers keep:
// a counter added to dataplane/counters.h without a field here fails this
// test rather than going missing from `vmigctl dataplane status`.
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

}  // namespace
}  // namespace vmig::daemon
