// Liveness from the source's side, through the engine: a destination that
// goes silent, or that ends the session on its side, fails the source's
// session within the bound with the cause, and the source resumes. A
// cancel does not wait out a hung peer call.
#include "daemon/source/peer_monitor.h"

#include <thread>

#include "absl/time/clock.h"
#include "daemon/source/source_engine.h"
#include "tests/daemon/engine_fixture.h"

namespace vmig::daemon::testing {
namespace {

using vfio::DeviceState;

class PeerMonitorTest : public EngineRig {
 protected:
  // A session that stays in pre-copy until told (manual switchover).
  v1::StartMigrationRequest Manual() const {
    v1::StartMigrationRequest req = Request();
    req.set_switchover_mode(v1::SWITCHOVER_MODE_MANUAL);
    return req;
  }
  static void WaitPrecopy(SessionRecord& r) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (r.phase() != v1::PHASE_PRECOPY && r.phase() != v1::PHASE_READY &&
           absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(5));
  }
};

TEST_F(PeerMonitorTest, ASilentDestinationFailsTheSourceWithinTheBound) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p|pre_copy,seed=31"},
             {"emu:state=2MiB"});
  std::atomic<bool> silent{false};
  hooks_.heartbeat = [&] {
    return silent ? absl::DeadlineExceededError("heartbeat: Deadline Exceeded")
                  : absl::OkStatus();
  };
  absl::Time went_silent;
  v1::Session s = Migrate(Manual(), [&](SessionRecord& r) {
    WaitPrecopy(r);
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_GT(hooks_.heartbeats, 0);
    went_silent = absl::Now();
    silent = true;
  });
  // The fake's bound (600 ms, more under TSan); the session ends well
  // before 2 s more.
  EXPECT_LT(absl::Now() - went_silent,
            absl::Milliseconds(kLivenessMs) + absl::Seconds(2));
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("silent for"), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("Deadline Exceeded"), std::string::npos);
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(registry_->Get("s0")->session(), "");
  // Told once to the events the engine was given (the daemon's metrics).
  EXPECT_EQ(events_.silent_destinations.load(), 1);
  EXPECT_EQ(events_.silent_sources.load(), 0);
}

TEST_F(PeerMonitorTest, ADestinationThatEndsTheSessionSendsItsCause) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p|pre_copy,seed=32"},
             {"emu:state=2MiB"});
  v1::Session s = Migrate(Manual(), [&](SessionRecord& r) {
    WaitPrecopy(r);
    ASSERT_TRUE(dest_.load()->Cancel("d0: the operator needs it back").ok());
  });
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("the destination ended the session"),
            std::string::npos)
      << s.error();
  EXPECT_NE(s.error().find("d0: the operator needs it back"),
            std::string::npos);
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
}

TEST_F(PeerMonitorTest, ACancelCutsAHungHandshakeShortAndEndsCancelled) {
  AddDevices({"emu:state=1MiB,flags=stop_copy|p2p,seed=33"},
             {"emu:state=1MiB"});
  // The handshake hangs until the engine cancels its pending calls (as the
  // gRPC client's TryCancel does), or 20 s.
  hooks_.handshake = [&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (hooks_.cancels == 0 && absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(5));
    return absl::CancelledError("handshake with the peer: Cancelled");
  };
  absl::Time asked;
  v1::Session s = Migrate(Request(), [&](SessionRecord& r) {
    while (r.phase() != v1::PHASE_HANDSHAKE)
      absl::SleepFor(absl::Milliseconds(1));
    absl::SleepFor(absl::Milliseconds(50));
    asked = absl::Now();
    engine_.load()->RequestCancel();
  });
  EXPECT_LT(absl::Now() - asked, absl::Seconds(5));
  EXPECT_EQ(s.phase(), v1::PHASE_CANCELLED) << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
}

}  // namespace
}  // namespace vmig::daemon::testing
