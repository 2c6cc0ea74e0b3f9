// Sharing the link between real daemons: a session's cap and a port's cap
// hold on the wire and change when updated; a session in its switchover
// goes before other sessions' pre-copy; sessions past the outgoing or the
// incoming limit wait QUEUED, in order, cancellable; a budget the
// switchover's cap cannot keep is refused before any device stops.
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/migration_fixture.h"

namespace vmig::testing {
namespace {

double Ms(const google::protobuf::Duration& d) {
  return d.seconds() * 1e3 + d.nanos() / 1e6;
}

class LinkSharingTest : public MigrationTest {
 protected:
  // A destination that takes one incoming session at a time: in0 holds it
  // (manual, READY), and in1 is started behind it.
  void FillTheDestinationsLine();
  // Starts session `id` over `devices` (same ids on both sides).
  grpc::Status StartCapped(const std::string& id,
                           const std::vector<std::string>& devices,
                           int budget_ms, bool manual, uint64_t max_bandwidth,
                           uint64_t switchover_bandwidth,
                           v1::Session* out = nullptr) {
    v1::StartMigrationRequest req;
    req.set_session_id(id);
    req.set_peer(dest_->address());
    for (const auto& x : devices) {
      auto* m = req.add_devices();
      m->set_source(x);
      m->set_destination(x);
    }
    req.mutable_downtime_budget()->set_seconds(budget_ms / 1000);
    req.mutable_downtime_budget()->set_nanos(budget_ms % 1000 * 1000000);
    req.mutable_precopy()->mutable_max_precopy()->set_seconds(60);
    req.set_switchover_mode(manual ? v1::SWITCHOVER_MODE_MANUAL
                                   : v1::SWITCHOVER_MODE_AUTO);
    req.set_max_bandwidth(max_bandwidth);
    req.set_switchover_bandwidth(switchover_bandwidth);
    grpc::ClientContext c;
    v1::Session s;
    grpc::Status st = src_mig_->StartMigration(Ctx(c), req, &s);
    if (out) *out = s;
    return st;
  }
  // The source's port (memif server, as the fixture's) capped at `rate`.
  void CapTheSourcePort(uint64_t rate) {
    src_dataplane_ =
        "dataplane { lcores: \"1\" main_lcore: 0 ports { name: \"p\" "
        "memif: \"role=server,socket=" +
        dir_.path() +
        "/memif.sock,socket-abstract=no\" ipv4: \"169.254.77.1\" max_rate: " +
        std::to_string(rate) + " } }\n";
  }
  grpc::Status Update(const std::string& id, uint64_t max_bandwidth) {
    v1::UpdateSessionRequest req;
    req.mutable_session()->set_name("sessions/" + id);
    req.mutable_session()->set_max_bandwidth(max_bandwidth);
    req.mutable_update_mask()->add_paths("max_bandwidth");
    grpc::ClientContext c;
    v1::Session s;
    return src_mig_->UpdateSession(Ctx(c), req, &s);
  }
  // Bytes/s the source's port sent over `window`, from its counters.
  double PortTxRate(absl::Duration window) {
    const v1::DataplaneStatus a = DataplaneStatusOf(*source_);
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(window));
    const v1::DataplaneStatus b = DataplaneStatusOf(*source_);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    return static_cast<double>(b.ports(0).tx_bytes() - a.ports(0).tx_bytes()) /
           secs;
  }
  // Device bytes/s of session `id` over `window`.
  double SessionRate(const std::string& id, absl::Duration window) {
    const uint64_t a = Get(*src_mig_, id).progress().transferred_bytes();
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(window));
    const uint64_t b = Get(*src_mig_, id).progress().transferred_bytes();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    return static_cast<double>(b - a) / secs;
  }
  void ExpectCompletedAndVerified(const std::string& id) {
    const v1::Session s = WaitEnd(*src_mig_, id);
    ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
    EXPECT_EQ(WaitEnd(*dst_mig_, id).phase(), v1::PHASE_COMPLETED);
    auto src = Devices(*src_dev_), dst = Devices(*dst_dev_);
    for (const auto& d : s.devices()) {
      EXPECT_EQ(dst[d.device()].emulated_digest(),
                src[d.device()].emulated_digest())
          << d.device();
      EXPECT_EQ(dst[d.device()].state(), v1::DEVICE_STATE_RUNNING);
    }
  }
};

// A pre-copy device with 96 MiB of initial data and nothing dirtied.
std::vector<DeviceSpec> PrecopyDevices(int n, const std::string& size) {
  std::vector<DeviceSpec> out;
  for (int i = 0; i < n; ++i) {
    const std::string common =
        "state=" + size + ",flags=stop_copy|p2p|pre_copy,transition_ms=1";
    out.push_back({"d" + std::to_string(i),
                   "emu:" + common + ",seed=" + std::to_string(i + 1),
                   "emu:" + common + ",seed=" + std::to_string(50 + i)});
  }
  return out;
}

void LinkSharingTest::FillTheDestinationsLine() {
  dst_extra_ = "limits { max_incoming_sessions: 1 }\n";
  StartDaemons(PrecopyDevices(2, "8MiB"));
  ASSERT_TRUE(Prepare("in0", {"d0"}).ok());
  ASSERT_TRUE(Prepare("in1", {"d1"}).ok());
  ASSERT_TRUE(StartCapped("in0", {"d0"}, kRoomyBudgetMs, true, 0, 0).ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "in0", {v1::PHASE_READY}).phase(),
            v1::PHASE_READY);
  ASSERT_TRUE(StartCapped("in1", {"d1"}, kRoomyBudgetMs, false, 0, 0).ok());
}

TEST_F(LinkSharingTest, ASessionsCapHoldsOnTheWireAndUpdateSessionChangesIt) {
  StartDaemons(PrecopyDevices(1, "96MiB"));
  ASSERT_TRUE(Prepare("capped").ok());
  constexpr double kCap = 16e6, kRaised = 40e6;
  ASSERT_TRUE(StartCapped("capped", {"d0"}, kRoomyBudgetMs, /*manual=*/true,
                          static_cast<uint64_t>(kCap), 0)
                  .ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "capped", {v1::PHASE_PRECOPY}).phase(),
            v1::PHASE_PRECOPY);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // On the wire (the port's counters: headers, tags and acks included)
  // and in device bytes: never past the cap, and not far below it.
  const double wire = PortTxRate(absl::Milliseconds(1500));
  EXPECT_LE(wire, kCap * 1.05);
  EXPECT_GE(wire, kCap * 0.5) << "the capped session barely moved";
  const v1::Session s = Get(*src_mig_, "capped");
  EXPECT_EQ(s.max_bandwidth(), static_cast<uint64_t>(kCap));
  const v1::DataplaneStatus st = DataplaneStatusOf(*source_);
  ASSERT_GT(st.flows_size(), 0);
  EXPECT_EQ(st.flows(0).max_bandwidth(), static_cast<uint64_t>(kCap));
  EXPECT_GT(st.ports(0).cap_waits(), 0u);

  ASSERT_TRUE(Update("capped", static_cast<uint64_t>(kRaised)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double raised = SessionRate("capped", absl::Milliseconds(800));
  EXPECT_LE(raised, kRaised * 1.05);
  EXPECT_GE(raised, kCap * 1.3) << "the raised cap did not take effect";
  ASSERT_TRUE(SwitchoverOnSource("capped").ok());
  ExpectCompletedAndVerified("capped");
}

TEST_F(LinkSharingTest, APortsCapHoldsOverEverySessionOnIt) {
  constexpr uint64_t kPortCap = 24'000'000;
  CapTheSourcePort(kPortCap);
  StartDaemons(PrecopyDevices(2, "64MiB"));
  for (const char* id : {"s0", "s1"})
    ASSERT_TRUE(Prepare(id, {std::string("d") + id[1]}).ok());
  ASSERT_TRUE(StartCapped("s0", {"d0"}, kRoomyBudgetMs, true, 0, 0).ok());
  ASSERT_TRUE(StartCapped("s1", {"d1"}, kRoomyBudgetMs, true, 0, 0).ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "s1", {v1::PHASE_PRECOPY}).phase(),
            v1::PHASE_PRECOPY);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int second = 0; second < 2; ++second) {
    const double wire = PortTxRate(absl::Seconds(1));
    EXPECT_LE(wire, kPortCap * 1.05) << "second " << second;
    EXPECT_GE(wire, kPortCap * 0.5) << "second " << second;
  }
  const v1::DataplaneStatus st = DataplaneStatusOf(*source_);
  EXPECT_EQ(st.ports(0).max_rate(), kPortCap);
  for (const char* id : {"s0", "s1"}) ASSERT_TRUE(SwitchoverOnSource(id).ok());
  for (const char* id : {"s0", "s1"}) ExpectCompletedAndVerified(id);
}

TEST_F(LinkSharingTest,
       ASessionInItsSwitchoverMeetsItsBudgetWhileOthersPrecopy) {
  // The port carries 32 MB/s. Seven sessions pre-copy devices that keep
  // dirtying state (they never converge and fill the port); an eighth has
  // 8 MiB to send with the devices stopped: about 0.27 s at the port's
  // rate, eight times that (2.1 s) if it shared the port with the others
  // evenly. Its budget (1200 ms) is above its guessed bound (about 630 ms:
  // its read rate was never measured, so the bound assumes half the link's
  // probed rate; 733 ms in a CI run whose probe met a host stall) and its
  // downtime must stay under half an even share.
  constexpr uint64_t kPortCap = 32'000'000;
  CapTheSourcePort(kPortCap);
  std::vector<DeviceSpec> devs;
  constexpr int kOthers = 7;
  for (int i = 0; i < kOthers; ++i) {
    const std::string busy =
        "state=32MiB,flags=stop_copy|p2p|pre_copy,dirty=32MiB/s";
    devs.push_back({"busy" + std::to_string(i),
                    "emu:" + busy + ",seed=" + std::to_string(i + 1),
                    "emu:" + busy + ",seed=" + std::to_string(20 + i)});
  }
  const std::string urgent = "state=8MiB,flags=stop_copy|p2p,transition_ms=1";
  devs.push_back(
      {"urgent", "emu:" + urgent + ",seed=9", "emu:" + urgent + ",seed=10"});
  StartDaemons(devs);
  for (int i = 0; i < kOthers; ++i) {
    const std::string id = "busy" + std::to_string(i);
    ASSERT_TRUE(Prepare(id, {id}).ok());
    ASSERT_TRUE(StartCapped(id, {id}, kRoomyBudgetMs, true, 0, 0).ok());
  }
  for (int i = 0; i < kOthers; ++i)
    ASSERT_EQ(WaitPhase(*src_mig_, "busy" + std::to_string(i),
                        {v1::PHASE_PRECOPY, v1::PHASE_READY})
                      .phase() != v1::PHASE_FAILED,
              true);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(Prepare("urgent", {"urgent"}).ok());
  constexpr int kBudgetMs = 1200;
  ASSERT_TRUE(StartCapped("urgent", {"urgent"}, kBudgetMs, false, 0, 0).ok());
  const v1::Session s = WaitEnd(*src_mig_, "urgent");
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  EXPECT_TRUE(s.report().budget_met())
      << "downtime " << Ms(s.report().downtime()) << " ms, budget " << kBudgetMs
      << " ms, predicted " << Ms(s.report().predicted());
  const double even_share_ms = 8.0 * 8 * 1048576 / kPortCap * 1e3;
  EXPECT_LT(Ms(s.report().downtime()), even_share_ms / 2)
      << "it did not go before the others' pre-copy";
  // The others lived on, slowed, and still migrate.
  for (int i = 0; i < kOthers; ++i) {
    const std::string id = "busy" + std::to_string(i);
    const v1::Session b = Get(*src_mig_, id);
    EXPECT_NE(b.phase(), v1::PHASE_FAILED) << id << ": " << b.error();
    v1::Session cancelled;
    EXPECT_TRUE(CancelOnSource(id, &cancelled).ok());
  }
}

TEST_F(LinkSharingTest, SessionsPastMaxOutgoingWaitQueuedAndStartInOrder) {
  src_extra_ = "limits { max_outgoing_sessions: 1 }\n";
  StartDaemons(PrecopyDevices(3, "8MiB"));
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(
        Prepare("q" + std::to_string(i), {"d" + std::to_string(i)}).ok());
  v1::Session s;
  ASSERT_TRUE(StartCapped("q0", {"d0"}, kRoomyBudgetMs, true, 0, 0, &s).ok());
  EXPECT_NE(s.phase(), v1::PHASE_QUEUED);
  ASSERT_TRUE(StartCapped("q1", {"d1"}, kRoomyBudgetMs, false, 0, 0, &s).ok());
  EXPECT_EQ(s.phase(), v1::PHASE_QUEUED);
  EXPECT_EQ(s.queue_position(), 1u);
  ASSERT_TRUE(StartCapped("q2", {"d2"}, kRoomyBudgetMs, false, 0, 0, &s).ok());
  EXPECT_EQ(s.queue_position(), 2u);
  ASSERT_EQ(WaitPhase(*src_mig_, "q0", {v1::PHASE_READY}).phase(),
            v1::PHASE_READY);
  // Still queued while q0 runs; a queued session's caps can change.
  EXPECT_EQ(Get(*src_mig_, "q1").phase(), v1::PHASE_QUEUED);
  ASSERT_TRUE(Update("q2", 50'000'000).ok());
  // Cancelling q1 moves q2 up; q1's device runs on, unclaimed.
  v1::Session cancelled;
  ASSERT_TRUE(CancelOnSource("q1", &cancelled).ok());
  EXPECT_EQ(WaitEnd(*src_mig_, "q1").phase(), v1::PHASE_CANCELLED);
  v1::Session q2 = Get(*src_mig_, "q2");
  for (int i = 0; i < 200 && q2.queue_position() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    q2 = Get(*src_mig_, "q2");
  }
  EXPECT_EQ(q2.phase(), v1::PHASE_QUEUED);
  EXPECT_EQ(q2.queue_position(), 1u);
  EXPECT_EQ(q2.max_bandwidth(), 50'000'000u);
  EXPECT_EQ(Devices(*src_dev_)["devices/d1"].state(), v1::DEVICE_STATE_RUNNING);
  // q0 ends; q2 starts and completes.
  ASSERT_TRUE(SwitchoverOnSource("q0").ok());
  ExpectCompletedAndVerified("q0");
  ExpectCompletedAndVerified("q2");
  // vmigctl shows the place of a queued session.
  CommandResult r =
      RunCommand({BinaryPath("control/cli/vmigctl"), "--addr",
                  source_->address(), "--timeout", "10s", "migrate", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("CANCELLED"), std::string::npos) << r.out;
}

TEST_F(LinkSharingTest, SourcesPastTheDestinationsIncomingLimitWaitForIt) {
  ASSERT_NO_FATAL_FAILURE(FillTheDestinationsLine());
  const v1::Session waiting = WaitPhase(*src_mig_, "in1", {v1::PHASE_QUEUED});
  ASSERT_EQ(waiting.phase(), v1::PHASE_QUEUED) << waiting.error();
  EXPECT_EQ(waiting.queue_position(), 1u);
  EXPECT_NE(waiting.progress().waiting_reason().find("max_incoming_sessions"),
            std::string::npos);
  const v1::Session there = WaitPhase(*dst_mig_, "in1", {v1::PHASE_QUEUED});
  EXPECT_EQ(there.phase(), v1::PHASE_QUEUED);
  // It stays in line while in0 streams, then follows it.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(Get(*src_mig_, "in1").phase(), v1::PHASE_QUEUED);
  ASSERT_TRUE(SwitchoverOnSource("in0").ok());
  ExpectCompletedAndVerified("in0");
  ExpectCompletedAndVerified("in1");
}

// A source waiting in the destination's line sleeps between its asks, and
// a cancel wakes it: it ends CANCELLED with its devices running, without
// waiting out its turn or its next ask.
TEST_F(LinkSharingTest, ACancelInTheDestinationsLineEndsTheWaitAtOnce) {
  ASSERT_NO_FATAL_FAILURE(FillTheDestinationsLine());
  ASSERT_EQ(WaitPhase(*src_mig_, "in1", {v1::PHASE_QUEUED}).phase(),
            v1::PHASE_QUEUED);
  v1::Session cancelled;
  ASSERT_TRUE(CancelOnSource("in1", &cancelled).ok());
  const v1::Session s = WaitEnd(*src_mig_, "in1");
  EXPECT_EQ(s.phase(), v1::PHASE_CANCELLED) << s.error();
  EXPECT_FALSE(s.committed());
  // in0 is untouched by it and completes.
  EXPECT_EQ(Get(*src_mig_, "in0").phase(), v1::PHASE_READY);
  ASSERT_TRUE(SwitchoverOnSource("in0").ok());
  ExpectCompletedAndVerified("in0");
}

TEST_F(LinkSharingTest, ABudgetTheSwitchoverCapCannotKeepIsRefusedUpFront) {
  // 16 MiB with the devices stopped at 4 MB/s is about 4 s: a 500 ms
  // budget cannot be kept, whatever the link could do uncapped.
  const std::string spec = "state=16MiB,flags=stop_copy|p2p,transition_ms=1";
  StartDaemons({{"d0", "emu:" + spec + ",seed=1", "emu:" + spec + ",seed=2"}});
  ASSERT_TRUE(Prepare("slow").ok());
  ASSERT_TRUE(StartCapped("slow", {"d0"}, 500, false, 0, 4'000'000).ok());
  const v1::Session s = WaitEnd(*src_mig_, "slow");
  ASSERT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("switchover_bandwidth"), std::string::npos)
      << s.error();
  EXPECT_FALSE(s.has_report());
  ExpectAllIn(*src_dev_, v1::DEVICE_STATE_RUNNING);
  // A cap below the least one is refused, naming the field.
  grpc::Status bad = StartCapped("bad", {"d0"}, 500, false, 999, 0);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("max_bandwidth"), std::string::npos);
}

}  // namespace
}  // namespace vmig::testing
