// The commit protocol from the source's side, against a fake peer client
// that loses answers on request: the source never resumes a device unless
// it knows the destination will not run it, and learns the outcome of a
// commit whose answer was lost by asking (Abort), or from an operator.
#include <thread>

#include "absl/time/clock.h"
#include "daemon/source/source_engine.h"
#include "tests/daemon/engine_fixture.h"

namespace vmig::daemon::testing {
namespace {

using vfio::DeviceState;

class SourceCommitTest : public EngineRig {
 protected:
  // Waits (bounded) until the source session is in `phase`.
  static bool WaitPhase(SessionRecord& r, v1::Phase phase) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (r.phase() != phase && absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(5));
    return r.phase() == phase;
  }
  // These tests are about the commit, not the budget: under TSan on a
  // loaded machine the link probe can measure 1 MiB/s, and the budget check
  // would end a session before its commit. Overrunning is allowed so every
  // session reaches the commit whatever the link measures.
  v1::StartMigrationRequest CommitRequest() const {
    v1::StartMigrationRequest req = Request();
    req.set_allow_budget_overrun(true);
    return req;
  }
};

// The destination committed, but its answer never came back (a commit that
// outlived the caller's deadline): the source asks, learns COMMITTED and
// completes. Its devices never run again: one host runs them.
TEST_F(SourceCommitTest, ALostAnswerOfACommitThatHappenedCompletesStopped) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p|pre_copy,seed=21",
              "emu:state=1MiB,flags=stop_copy|p2p,seed=22"},
             {"emu:state=2MiB", "emu:state=1MiB"});
  const uint64_t s0 = Digest("s0"), s1 = Digest("s1");
  hooks_.commit_answer = [] {
    return absl::DeadlineExceededError("commit: Deadline Exceeded");
  };
  v1::Session s = Migrate(CommitRequest());
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kStop);
  EXPECT_EQ(State("s1"), DeviceState::kStop);
  EXPECT_EQ(State("d0"), DeviceState::kRunning);
  EXPECT_EQ(State("d1"), DeviceState::kRunning);
  EXPECT_EQ(Digest("d0"), s0);
  EXPECT_EQ(Digest("d1"), s1);
  EXPECT_EQ(dest_record_->phase(), v1::PHASE_COMPLETED);
  EXPECT_GE(hooks_.aborts, 1);  // how it asked
  // The report is the destination's, recovered from its stored answer.
  EXPECT_TRUE(s.report().has_destination_load());
}

// The commit call failed before the destination began it: asking fences
// the commit off, the answer is ABORTED, and only then does the source
// resume, its state intact.
TEST_F(SourceCommitTest, ACommitThatNeverBeganIsFencedAndTheSourceResumes) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p,seed=23"},
             {"emu:state=2MiB"});
  const uint64_t s0 = Digest("s0");
  hooks_.commit = [] { return absl::UnavailableError("connection reset"); };
  v1::Session s = Migrate(CommitRequest());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("did not commit"), std::string::npos) << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(Digest("s0"), s0);
  EXPECT_EQ(dest_record_->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(State("d0"), DeviceState::kRunning);  // reset, not the state
}

// Nobody answers: the session waits IN_DOUBT with its devices stopped, for
// as long as it takes, until an operator resolves it.
TEST_F(SourceCommitTest, AnUnreachableDestinationLeavesItInDoubtUntilResolved) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p,seed=24"},
             {"emu:state=2MiB"});
  const uint64_t s0 = Digest("s0");
  std::atomic<bool> reachable{true};
  hooks_.commit = [&] {
    reachable = false;
    return absl::DeadlineExceededError("commit: Deadline Exceeded");
  };
  hooks_.abort = [&] {
    return reachable ? absl::OkStatus()
                     : absl::UnavailableError("peer unreachable");
  };
  v1::Session s = Migrate(CommitRequest(), [&](SessionRecord& r) {
    ASSERT_TRUE(WaitPhase(r, v1::PHASE_IN_DOUBT));
    absl::SleepFor(absl::Milliseconds(300));
    // Still in doubt, still stopped, still asking.
    EXPECT_EQ(r.phase(), v1::PHASE_IN_DOUBT);
    EXPECT_EQ(State("s0"), DeviceState::kStopCopy);
    EXPECT_NE(r.Snapshot().error().find("outcome is unknown"),
              std::string::npos);
    EXPECT_GE(hooks_.aborts, 2);
    r.resolution = v1::ResolveRequest::DECISION_RESUME_SOURCE;
  });
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("RESUME_SOURCE"), std::string::npos) << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(Digest("s0"), s0);
}

// A destination device that fails to resume, with no device running there:
// the commit is ABORTED with the device and the cause, the source resumes.
TEST_F(SourceCommitTest, ADestinationDeviceThatFailsToResumeIsNotASuccess) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p,seed=25"},
             {"emu:state=2MiB,fail_arc=STOP>RUNNING_P2P"});
  const uint64_t s0 = Digest("s0");
  v1::Session s = Migrate(CommitRequest());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("d0"), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("no destination device ran"), std::string::npos)
      << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(Digest("s0"), s0);
  EXPECT_EQ(dest_record_->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(registry_->Get("d0")->session(), "");
}

// One of two destination devices fails to resume after the other ran: the
// destination owns the state, the source stays stopped, and both sessions
// say FAILED with the device named (never COMPLETED).
TEST_F(SourceCommitTest, AResumeThatFailsAfterADeviceRanFailsBothStopped) {
  AddDevices({"emu:state=1MiB,flags=stop_copy|p2p,seed=26",
              "emu:state=1MiB,flags=stop_copy|p2p,seed=27"},
             {"emu:state=1MiB", "emu:state=1MiB,fail_arc=RUNNING_P2P>RUNNING"});
  v1::Session s = Migrate(CommitRequest());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("committed, but"), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("d1"), std::string::npos) << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kStop);
  EXPECT_EQ(State("s1"), DeviceState::kStop);
  EXPECT_EQ(dest_record_->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(State("d1"), DeviceState::kError);
}

}  // namespace
}  // namespace vmig::daemon::testing
