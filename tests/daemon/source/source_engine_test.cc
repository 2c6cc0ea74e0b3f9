// The source engine against a fake peer client and an in-process ring-port
// data plane: a verified migration, and the rollbacks the first law asks
// for (a failed arc, a failed peer call, a cancel), each leaving the source
// RUNNING with its state intact and the destination reset.
#include "daemon/source/source_engine.h"

#include <thread>

#include "absl/time/clock.h"
#include "tests/daemon/engine_fixture.h"

namespace vmig::daemon::testing {
namespace {

using vfio::DeviceState;

class SourceEngineTest : public EngineRig {};

TEST_F(SourceEngineTest, CompletesAndTheDestinationHoldsTheSourcesState) {
  AddDevices({"emu:state=4MiB,flags=stop_copy|p2p|pre_copy,seed=1",
              "emu:state=2MiB,flags=stop_copy|p2p,seed=2"},
             {"emu:state=4MiB,seed=11", "emu:state=2MiB,seed=12"});
  const uint64_t s0 = Digest("s0"), s1 = Digest("s1");
  v1::Session s = Migrate(Request());
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  EXPECT_EQ(Digest("d0"), s0);
  EXPECT_EQ(Digest("d1"), s1);
  EXPECT_EQ(State("d0"), DeviceState::kRunning);
  EXPECT_EQ(State("s0"), DeviceState::kStop);
  EXPECT_EQ(dest_record_->phase(), v1::PHASE_COMPLETED);
  EXPECT_GT(s.report().devices_size(), 0);
  // The devices are free again on both sides.
  EXPECT_EQ(registry_->Get("s0")->session(), "");
  EXPECT_EQ(registry_->Get("d1")->session(), "");
}

TEST_F(SourceEngineTest, AFailedArcRollsBackTheSourceAndAbortsThePeer) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p|pre_copy,seed=1",
              "emu:state=2MiB,flags=stop_copy|p2p|pre_copy,seed=2,"
              "fail_arc=PRE_COPY_P2P>STOP_COPY"},
             {"emu:state=2MiB", "emu:state=2MiB"});
  const uint64_t s0 = Digest("s0"), s1 = Digest("s1");
  const uint64_t d0 = Digest("d0");
  v1::Session s = Migrate(Request());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("s1"), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("STOP_COPY"), std::string::npos) << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(State("s1"), DeviceState::kRunning);
  EXPECT_EQ(Digest("s0"), s0);
  EXPECT_EQ(Digest("s1"), s1);
  EXPECT_EQ(hooks_.aborts, 1);
  EXPECT_EQ(dest_record_->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(State("d0"), DeviceState::kRunning);  // reset: its own state
  EXPECT_EQ(Digest("d0"), d0);
}

TEST_F(SourceEngineTest, AFailedHandshakeLeavesTheSourceRunning) {
  AddDevices({"emu:state=1MiB,flags=stop_copy|p2p|pre_copy,seed=1"});
  const uint64_t s0 = Digest("s0");
  hooks_.handshake = [] {
    return absl::UnavailableError("connection refused");
  };
  v1::Session s = Migrate(Request());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("connection refused"), std::string::npos);
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(Digest("s0"), s0);
  EXPECT_EQ(registry_->Get("s0")->session(), "");
}

TEST_F(SourceEngineTest, AFailedSwitchoverAckRollsBack) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p|pre_copy,seed=3"},
             {"emu:state=2MiB"});
  const uint64_t s0 = Digest("s0");
  hooks_.switchover_ack = [] {
    return absl::DeadlineExceededError("switchover-ack: deadline");
  };
  v1::Session s = Migrate(Request());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("switchover-ack"), std::string::npos);
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(Digest("s0"), s0);
  EXPECT_EQ(dest_record_->phase(), v1::PHASE_FAILED);
}

TEST_F(SourceEngineTest, ACommitRefusedBeforeTheDestinationLoadedRollsBack) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p,seed=4"}, {"emu:state=2MiB"});
  const uint64_t s0 = Digest("s0");
  hooks_.commit = [] {
    return absl::FailedPreconditionError("commit: refused");
  };
  v1::Session s = Migrate(Request());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(Digest("s0"), s0);
  EXPECT_EQ(dest_record_->phase(), v1::PHASE_FAILED);
}

TEST_F(SourceEngineTest, ACancelDuringPrecopyRollsBack) {
  // Dirtied faster than it is read, with a budget it cannot meet: the
  // session stays in pre-copy until cancelled.
  AddDevices({"emu:state=8MiB,flags=stop_copy|p2p|pre_copy,dirty=64MiB/s,"
              "read_bw=16MiB/s,seed=5"},
             {"emu:state=8MiB"});
  v1::Session s = Migrate(Request(50), [](SessionRecord& r) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (r.phase() != v1::PHASE_PRECOPY && absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(5));
    absl::SleepFor(absl::Milliseconds(200));
    r.cancel_requested.store(true);
  });
  EXPECT_EQ(s.phase(), v1::PHASE_CANCELLED) << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  // A running device keeps dirtying its state, so its digest moves on; what
  // must hold is that it runs and nothing else holds it.
  EXPECT_EQ(registry_->Get("s0")->session(), "");
  EXPECT_EQ(dest_record_->phase(), v1::PHASE_FAILED);
}

// The engine reads time only from its clock: a pre-copy limit of 3 s on a
// clock that moves 1 s per monitor interval ends the session after about
// four intervals. Timed on the wall clock it would take 3 s of them, and
// the stepping clock would have run on for dozens of seconds.
TEST_F(SourceEngineTest, PrecopyLimitIsMeasuredOnTheEnginesClock) {
  AddDevices({"emu:state=8MiB,flags=stop_copy|p2p|pre_copy,dirty=64MiB/s,"
              "read_bw=16MiB/s,seed=7"},
             {"emu:state=8MiB"});
  // A budget the devices could meet drained, which pre-copy never reaches.
  v1::StartMigrationRequest req = Request(50);
  req.mutable_precopy()->mutable_max_precopy()->set_seconds(3);
  req.mutable_precopy()->set_on_timeout(v1::PrecopyPolicy::ON_TIMEOUT_FAIL);
  SteppingClock clock(absl::Seconds(1), absl::Milliseconds(1));
  v1::Session s = Migrate(req, {}, clock);
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("pre-copy ran 3s"), std::string::npos) << s.error();
  // The engine slept on this clock until the limit, and no longer.
  EXPECT_GE(clock.Now() - absl::UnixEpoch(), absl::Seconds(3));
  EXPECT_LE(clock.Now() - absl::UnixEpoch(), absl::Seconds(6));
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
}

// Real time, and whatever a test adds to it.
class OffsetClock final : public Clock {
 public:
  absl::Time Now() override {
    return absl::Now() + absl::Seconds(offset_s_.load());
  }
  void SleepFor(absl::Duration d) override { absl::SleepFor(d); }
  void Advance(int seconds) { offset_s_ += seconds; }

 private:
  std::atomic<int> offset_s_{0};
};

// The handshake and the link probe are not pre-copy: when they take longer
// than the stall timeout (a slow link: the two-VM test's probe took 6 s),
// pre-copy's stall check counts from its own start. It counted from the
// session's, and failed at its first look ("no pre-copy progress for 5s").
TEST_F(SourceEngineTest, AHandshakeLongerThanTheStallTimeoutIsNoStall) {
  AddDevices({"emu:state=4MiB,flags=stop_copy|p2p|pre_copy,seed=1"},
             {"emu:state=4MiB,seed=11"});
  OffsetClock clock;
  hooks_.handshake = [&] {
    clock.Advance(10);  // the handshake took ten seconds of the engine's time
    return absl::OkStatus();
  };
  v1::Session s = Migrate(Request(), {}, clock);
  EXPECT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
}

TEST_F(SourceEngineTest, ReinitMidPrecopyEarnsTheSwitchoverAckAgain) {
  // Initial data (1 MiB) is done and acknowledged; then, 1.5 MiB into the
  // stream, the device raises REINIT (PRECOPY_INFOv2, which the engine must
  // have enabled): the engine must ask for the ack again, at a later stream
  // offset. Manual mode keeps the session in pre-copy meanwhile.
  // Read at 2 MiB/s: the REINIT comes 250 ms after the initial data, time
  // for its ack even under ThreadSanitizer.
  AddDevices({"emu:state=1MiB,flags=stop_copy|p2p|pre_copy,dirty=8MiB/s,"
              "read_bw=2MiB/s,reinit_after=1536KiB,seed=6"},
             {"emu:state=1MiB"});
  v1::StartMigrationRequest req = Request();
  req.set_switchover_mode(v1::SWITCHOVER_MODE_MANUAL);
  std::vector<uint64_t> offsets;
  v1::Session s = Migrate(req, [&](SessionRecord& r) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    for (;;) {
      {
        absl::MutexLock lock(&hooks_.mu);
        offsets = hooks_.ack_offsets;
      }
      const bool reasked = !offsets.empty() && offsets.back() > offsets.front();
      if (reasked || absl::Now() > deadline) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    r.switchover_requested.store(true);
  });
  ASSERT_FALSE(offsets.empty());
  EXPECT_GT(offsets.back(), offsets.front())
      << "no second switchover-ack after REINIT";
  // The first ack came before the REINIT point; the engine's offsets are
  // stream stats the worker publishes every 10 ms, so they trail the
  // device's own read count and can only be bounded from above.
  EXPECT_LE(offsets.front(), 1536u << 10);
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
}

}  // namespace
}  // namespace vmig::daemon::testing
