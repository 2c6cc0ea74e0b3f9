// Data-plane links over af_packet heal by themselves: two daemons in two
// network namespaces joined by a veth pair, the destination killed (-9)
// mid pre-copy and started again in its namespace. The source's session
// fails within the liveness bound, both daemons report their data plane
// SERVING within 5 s, and the same devices migrate again, verified.
#include <unistd.h>

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/migration_fixture.h"

namespace vmig::testing {
namespace {

class AfPacketLinkTest : public MigrationTest {
 protected:
  void SetUp() override {
    CommandResult ip = RunCommand({"/bin/sh", "-c", "command -v ip"});
    if (geteuid() != 0 || ip.exit_code != 0) {
      GTEST_SKIP() << "needs root and iproute2 for network namespaces";
    }
    ip.out.erase(ip.out.find_last_not_of("\n") + 1);  // the path, for exec
    const std::string tag = std::to_string(getpid());
    ns_a_ = "vmigHA" + tag;
    ns_b_ = "vmigHB" + tag;
    const std::string va = "ha" + tag, vb = "hb" + tag;
    CommandResult r = RunCommand(
        {"/bin/sh", "-c",
         "set -e; ip netns add " + ns_a_ + "; ip netns add " + ns_b_ +
             "; ip link add " + va + " type veth peer name " + vb +
             "; ip link set " + va + " netns " + ns_a_ + "; ip link set " + vb +
             " netns " + ns_b_ + "; ip -n " + ns_a_ + " link set " + va +
             " mtu 9000 up; ip -n " + ns_b_ + " link set " + vb +
             " mtu 9000 up"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    created_ = true;
    src_prefix_ = {ip.out, "netns", "exec", ns_a_};
    dst_prefix_ = {ip.out, "netns", "exec", ns_b_};
    auto port = [](const std::string& lcores, const std::string& main,
                   const std::string& iface, const std::string& ipv4) {
      return "dataplane { lcores: \"" + lcores + "\" main_lcore: " + main +
             " ports { name: \"p\" af_packet: \"" + iface + "\" ipv4: \"" +
             ipv4 + "\" } }\n";
    };
    src_dataplane_ = port("1", "0", va, "169.254.77.1");
    dst_dataplane_ = port("0", "1", vb, "169.254.77.2");
    src_extra_ =
        "peer { heartbeat_interval_ms: 200 liveness_timeout_ms: 1500 }\n";
    dst_extra_ = src_extra_;
  }
  void TearDown() override {
    source_.reset();
    dest_.reset();
    if (created_) {
      (void)RunCommand({"/bin/sh", "-c",
                        "ip netns del " + ns_a_ + "; ip netns del " + ns_b_});
    }
  }
  static bool DataplaneServing(const Daemon& d, double seconds) {
    const auto until =
        std::chrono::steady_clock::now() +
        std::chrono::milliseconds(static_cast<int>(seconds * 1000));
    do {
      CommandResult r = RunCommand({BinaryPath("cli/vmigctl"), "--addr",
                                    d.address(), "health", "vmig.dataplane"});
      if (r.exit_code == 0 && r.out.find("NOT_SERVING") == std::string::npos)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < until);
    return false;
  }

  std::string ns_a_, ns_b_;
  bool created_ = false;
};

TEST_F(AfPacketLinkTest, TheLinkServesAgainAfterTheDestinationIsKilled) {
  StartDaemons({{"n0", "emu:state=8MiB,flags=stop_copy|p2p|pre_copy,seed=1",
                 "emu:state=8MiB,seed=11"}});
  ASSERT_TRUE(Prepare("h1").ok());
  ASSERT_TRUE(Start("h1", 60000, /*manual=*/true).ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "h1", {v1::PHASE_READY}).phase(),
            v1::PHASE_READY);
  dest_->Kill();
  const auto t0 = std::chrono::steady_clock::now();
  v1::Session s = WaitEnd(*src_mig_, "h1");
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_LT(took, 1.5 + 2);
  ExpectAllIn(*src_dev_, v1::DEVICE_STATE_RUNNING);
  RestartDestination();
  EXPECT_TRUE(DataplaneServing(*source_, 5)) << source_->log();
  EXPECT_TRUE(DataplaneServing(*dest_, 5)) << dest_->log();
  FollowUpMigrationVerifies("h2");
}

}  // namespace
}  // namespace vmig::testing
