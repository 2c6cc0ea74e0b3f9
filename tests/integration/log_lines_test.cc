// What an operator reads in the journal about a migration: the switchover
// decision with its numbers, the link, the downtime report, a rollback
// with its cause, and at debug level the engine's figures once a second.
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/migration_fixture.h"

namespace vmig::testing {
namespace {

bool Has(const std::string& log, const std::string& what) {
  return log.find(what) != std::string::npos;
}

TEST_F(MigrationTest, TheLogSaysWhatTheEngineDecidedWithItsNumbers) {
  src_extra_ = "log_level: LOG_LEVEL_DEBUG\n";
  StartDaemons({{"nic0", "emu:state=8MiB,flags=stop_copy|p2p|pre_copy,seed=1",
                 "emu:state=8MiB,flags=stop_copy|p2p|pre_copy"}});
  ASSERT_NO_FATAL_FAILURE(StartManualUntilReady("l1"));
  // Long enough in READY for two of the engine's debug lines.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_TRUE(SwitchoverOnSource("l1").ok());
  ASSERT_EQ(WaitEnd(*src_mig_, "l1").phase(), v1::PHASE_COMPLETED);
  const std::string log = source_->log();
  EXPECT_TRUE(Has(log, "data plane: port p link up")) << log;
  EXPECT_TRUE(Has(log, "sessions/l1: pre-copy ")) << log;
  EXPECT_TRUE(Has(log, " MiB left, link ")) << log;
  EXPECT_TRUE(Has(log, "ready: waiting for a Switchover call")) << log;
  EXPECT_TRUE(Has(log,
                  "sessions/l1: switching over: requested (manual); "
                  "predicted downtime "))
      << log;
  EXPECT_TRUE(Has(log, "sessions/l1: downtime ")) << log;

  // A rollback says so, with its cause.
  ASSERT_NO_FATAL_FAILURE(StartManualUntilReady("l2"));
  v1::Session s;
  ASSERT_TRUE(CancelOnSource("l2", &s).ok());
  ASSERT_EQ(WaitEnd(*src_mig_, "l2").phase(), v1::PHASE_CANCELLED);
  const std::string after = source_->log();
  EXPECT_TRUE(Has(after, "sessions/l2: rolling back: ")) << after;
}

}  // namespace
}  // namespace vmig::testing
