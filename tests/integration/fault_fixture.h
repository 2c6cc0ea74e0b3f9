// The fixture of the first-law fault tests (fault_test.cc,
// frozen_source_test.cc): two daemons with a short liveness bound and a
// commit deadline, each journalling under its own state directory, and two
// devices that pre-copy and dirty nothing (their digest is their state).
#ifndef VMIGD_TESTS_INTEGRATION_FAULT_FIXTURE_H_
#define VMIGD_TESTS_INTEGRATION_FAULT_FIXTURE_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "tests/integration/migration_fixture.h"

namespace vmig::testing {

using Clock = std::chrono::steady_clock;

// Liveness of these tests' daemons: 1.5 s, so "within the bound plus 2 s"
// is 3.5 s.
inline constexpr double kLivenessS = 1.5;

class FaultTest : public MigrationTest {
 protected:
  void SetUp() override {
    // Each daemon journals under a state directory of its own, where its
    // emulated devices keep their state.
    src_extra_ =
        "peer { commit_timeout_ms: 2000 heartbeat_interval_ms: 200 "
        "liveness_timeout_ms: 1500 }\nstate_dir: \"" +
        dir_.path() + "/a-state\"\n";
    dst_extra_ =
        "peer { heartbeat_interval_ms: 200 liveness_timeout_ms: 1500 }\n"
        "state_dir: \"" +
        dir_.path() + "/b-state\"\n";
    // A copy-mode memif client, so that these tests cover its redial of a
    // restarted server (MemifLinkTest covers the zero-copy client's).
    dst_dataplane_ =
        "dataplane { lcores: \"0\" main_lcore: 1 ports { name: \"p\" memif: "
        "\"role=client,socket=" +
        dir_.path() +
        "/memif.sock,socket-abstract=no\" ipv4: \"169.254.77.2\" } }\n";
  }
  std::map<std::string, uint64_t> Digests(v1::DeviceService::Stub& stub) {
    std::map<std::string, uint64_t> out;
    for (const auto& [name, d] : Devices(stub)) out[name] = d.emulated_digest();
    return out;
  }
  // Seconds until `id` ends on `stub`, and the session.
  v1::Session TimedEnd(v1::MigrationService::Stub& stub, const std::string& id,
                       double* seconds) {
    const auto t0 = Clock::now();
    v1::Session s = WaitEnd(stub, id);
    *seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return s;
  }
};

// Two devices that pre-copy and dirty nothing (their digest is their state).
inline std::vector<DeviceSpec> PrecopyPair(const std::string& dest_extra = "") {
  return {{"n0", "emu:state=16MiB,flags=stop_copy|p2p|pre_copy,seed=1",
           "emu:state=16MiB,seed=11" + dest_extra},
          {"n1", "emu:state=8MiB,flags=stop_copy|p2p|pre_copy,seed=2",
           "emu:state=8MiB,seed=12" + dest_extra}};
}

}  // namespace vmig::testing

#endif  // VMIGD_TESTS_INTEGRATION_FAULT_FIXTURE_H_
