// The first law with a source that is frozen, not dead: SIGSTOP for longer
// than the liveness bound in pre-copy, in stop-copy and in the commit, then
// SIGCONT. A frozen process holds its sockets and its devices; nothing
// tells the destination it will not come back. Each case ends with every
// device running on exactly one host, both daemons agreeing, and (where
// the source kept its devices) a following migration verified.
#include <signal.h>

#include "absl/strings/str_replace.h"
#include "tests/integration/fault_fixture.h"

namespace vmig::testing {
namespace {

enum class Freeze { kPrecopy, kStopcopy, kCommit };

class FrozenSourceTest : public FaultTest,
                         public ::testing::WithParamInterface<Freeze> {};

TEST_P(FrozenSourceTest, EveryDeviceEndsOnExactlyOneHost) {
  const Freeze when = GetParam();
  std::vector<DeviceSpec> devs = PrecopyPair();
  for (auto& d : devs) {
    if (when == Freeze::kStopcopy) {
      // No pre-copy, read at 16 MiB/s: stop-copy lasts about a second.
      d.source_spec = absl::StrReplaceAll(d.source_spec, {{"|pre_copy", ""}}) +
                      ",read_bw=16MiB/s";
    }
    // Three destination arcs of 700 ms: the commit outlasts the freeze.
    if (when == Freeze::kCommit) d.dest_spec += ",transition_ms=700";
  }
  ASSERT_NO_FATAL_FAILURE(StartDaemons(devs));
  const auto before = Digests(*src_dev_);
  ASSERT_TRUE(Prepare("f1").ok());
  ASSERT_TRUE(Start("f1", 60000, /*manual=*/when == Freeze::kPrecopy).ok());
  switch (when) {
    case Freeze::kPrecopy:
      ASSERT_EQ(WaitPhase(*src_mig_, "f1", {v1::PHASE_READY}).phase(),
                v1::PHASE_READY);
      break;
    case Freeze::kStopcopy:
      ASSERT_EQ(WaitPhase(*src_mig_, "f1", {v1::PHASE_STOPCOPY}).phase(),
                v1::PHASE_STOPCOPY);
      break;
    case Freeze::kCommit:  // the destination is in its commit
      ASSERT_EQ(WaitPhase(*dst_mig_, "f1", {v1::PHASE_SWITCHOVER}).phase(),
                v1::PHASE_SWITCHOVER);
      break;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(kill(source_->pid(), SIGSTOP), 0);
  // Past the liveness bound, the source still frozen: the destination has
  // decided alone. Before the commit it gives up (the source may resume);
  // in the commit it finishes (the source asked for it).
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  const v1::Session during = Get(*dst_mig_, "f1");
  ASSERT_EQ(kill(source_->pid(), SIGCONT), 0);
  if (when == Freeze::kCommit) {
    EXPECT_TRUE(during.phase() == v1::PHASE_SWITCHOVER ||
                during.phase() == v1::PHASE_COMPLETED)
        << v1::Phase_Name(during.phase()) << ": " << during.error();
  } else {
    EXPECT_EQ(during.phase(), v1::PHASE_FAILED) << during.error();
    EXPECT_NE(during.error().find("source"), std::string::npos)
        << during.error();
  }
  const v1::Session s = WaitEnd(*src_mig_, "f1");
  const v1::Session t = WaitEnd(*dst_mig_, "f1");
  if (when == Freeze::kCommit) {
    EXPECT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
    EXPECT_EQ(t.phase(), v1::PHASE_COMPLETED) << t.error();
  } else {
    EXPECT_EQ(s.phase(), v1::PHASE_FAILED) << s.error();
    EXPECT_EQ(t.phase(), v1::PHASE_FAILED) << t.error();
  }
  auto src = Devices(*src_dev_), dst = Devices(*dst_dev_);
  ASSERT_EQ(src.size(), devs.size());
  for (const auto& [name, d] : src) {
    const bool src_runs = d.state() == v1::DEVICE_STATE_RUNNING &&
                          d.emulated_digest() == before.at(name);
    const bool dst_runs = dst[name].state() == v1::DEVICE_STATE_RUNNING &&
                          dst[name].emulated_digest() == before.at(name);
    EXPECT_NE(src_runs, dst_runs) << name << " must run on exactly one host";
    EXPECT_TRUE(d.session().empty() && dst[name].session().empty()) << name;
  }
  if (when != Freeze::kCommit) FollowUpMigrationVerifies("f2");
}

INSTANTIATE_TEST_SUITE_P(SigstopTheSource, FrozenSourceTest,
                         ::testing::Values(Freeze::kPrecopy, Freeze::kStopcopy,
                                           Freeze::kCommit),
                         [](const ::testing::TestParamInfo<Freeze>& p) {
                           switch (p.param) {
                             case Freeze::kPrecopy:
                               return std::string("InPrecopy");
                             case Freeze::kStopcopy:
                               return std::string("InStopcopy");
                             case Freeze::kCommit:
                               return std::string("InTheCommit");
                           }
                           return std::string("Unknown");
                         });

}  // namespace
}  // namespace vmig::testing
