// The soak's judge (bench/soak_judge.h) on made-up runs: it must catch each
// kind of violation, and tell a leak from a flat run.
#include "bench/soak_judge.h"

#include "gtest/gtest.h"

namespace vmig::bench {
namespace {

SoakRecord Record(const std::string& fault) {
  SoakRecord r;
  r.fault = fault;
  return r;
}

TEST(SoakJudgeTest, EachViolationIsCountedAndNamed) {
  SoakTally t;
  SoakRecord ok = Record("none");
  ok.completed = ok.verified = true;
  Judge(false, ok, t);
  SoakRecord unverified = Record("none");
  unverified.completed = true;
  Judge(false, unverified, t);
  SoakRecord changed = Record("cancel");
  changed.phase = "PHASE_CANCELLED";
  Judge(true, changed, t);
  SoakRecord unexplained = Record("none");
  unexplained.phase = "PHASE_FAILED";
  unexplained.source_intact = true;
  unexplained.why = "stream stalled";
  Judge(false, unexplained, t);
  SoakRecord rolled = Record("fail-arc");
  rolled.phase = "PHASE_FAILED";
  rolled.source_intact = true;
  rolled.left_over = {"destination devices/s1d0 (sessions/bench2)"};
  Judge(true, rolled, t);
  SoakRecord error = Record("restart");
  error.error = "migration bench6 ended PHASE_IN_DOUBT";
  Judge(true, error, t);

  EXPECT_EQ(t.migrations, 6);
  EXPECT_EQ(t.verified, 1);
  EXPECT_EQ(t.unverified, 1);
  EXPECT_EQ(t.not_intact, 1);
  EXPECT_EQ(t.unexplained, 1);
  EXPECT_EQ(t.rolled_back, 1);
  EXPECT_EQ(t.left_over, 1);
  EXPECT_EQ(t.errors, 1);
  EXPECT_FALSE(t.Pass());
  ASSERT_EQ(t.violations.size(), 5u);
  EXPECT_NE(t.violations[2].find("stream stalled"), std::string::npos);
  EXPECT_NE(t.violations[3].find("s1d0"), std::string::npos);
  EXPECT_EQ(t.by_fault["cancel"]["PHASE_CANCELLED"], 1);
}

// A destination device that fails to resume after others ran: the session
// fails committed. Allowed only where the drawn fault may do that, and only
// with every source device stopped.
TEST(SoakJudgeTest, AFailureAfterTheCommitIsJudgedByWhereTheDevicesRun) {
  SoakTally t;
  SoakRecord drawn = Record("fail-arc");
  drawn.phase = "PHASE_FAILED";
  drawn.committed = drawn.source_stopped = drawn.may_fail_after_commit = true;
  Judge(true, drawn, t);
  EXPECT_EQ(t.committed_failed, 1);
  EXPECT_TRUE(t.Pass()) << t.Summary();
  SoakRecord two_hosts = drawn;
  two_hosts.source_stopped = false;
  Judge(true, two_hosts, t);
  EXPECT_EQ(t.not_intact, 1);
  SoakRecord undrawn = drawn;
  undrawn.may_fail_after_commit = false;
  Judge(true, undrawn, t);
  EXPECT_EQ(t.unexplained, 1);
  EXPECT_FALSE(t.Pass());
}

TEST(SoakJudgeTest, ACleanRunPasses) {
  SoakTally t;
  SoakRecord ok = Record("none");
  ok.completed = ok.verified = true;
  Judge(false, ok, t);
  SoakRecord rolled = Record("cancel");
  rolled.phase = "PHASE_CANCELLED";
  rolled.source_intact = true;
  Judge(true, rolled, t);
  EXPECT_TRUE(t.Pass()) << t.Summary();
}

std::vector<ResourceSample> MadeUpRun(int n, int fd_leak_every,
                                      int restart_at) {
  std::vector<ResourceSample> out;
  int generation = 0;
  for (int i = 0; i < n; ++i) {
    if (i == restart_at) ++generation;
    ProcessResources src{100ull << 20, 20, 40, 300};
    // The first migrations allocate (pools, caches): not a leak.
    if (i < 5) src.rss_bytes -= (5 - i) * (4ull << 20);
    if (fd_leak_every > 0) src.fds += i / fd_leak_every;
    out.push_back({i, 0, 0, src});
    out.push_back(
        {i, 1, generation, ProcessResources{90ull << 20, 18, 30, 280}});
  }
  return out;
}

TEST(SoakJudgeTest, FlatResourcesAreFlatAndAnFdLeakIsNot) {
  auto flat = JudgeFlatness(MadeUpRun(100, 0, -1));
  ASSERT_EQ(flat.size(), 2u);
  EXPECT_TRUE(flat[0].judged && flat[0].flat) << flat[0].line;
  EXPECT_TRUE(flat[1].judged && flat[1].flat) << flat[1].line;
  // One fd lost every 5 migrations: 9 more by the end than at 30-50.
  auto leak = JudgeFlatness(MadeUpRun(100, 5, -1));
  EXPECT_TRUE(leak[0].judged);
  EXPECT_FALSE(leak[0].flat) << leak[0].line;
  EXPECT_NE(leak[0].line.find("GROWING"), std::string::npos);
}

TEST(SoakJudgeTest, ARestartedDaemonIsJudgedOverItsLongestLife) {
  // Restarted at 15: its 85 migrations since are judged.
  auto v = JudgeFlatness(MadeUpRun(100, 0, 15));
  EXPECT_TRUE(v[1].judged);
  EXPECT_EQ(v[1].samples, 85);
  // Too short a life is not judged (and not called flat either way).
  auto short_run = JudgeFlatness(MadeUpRun(30, 0, -1));
  EXPECT_FALSE(short_run[0].judged);
  EXPECT_NE(short_run[0].line.find("not judged"), std::string::npos);
}

}  // namespace
}  // namespace vmig::bench
