// The first law under faults, with two real daemons: a commit that outlives
// the source's deadline (slow destination arcs, a frozen destination), a
// daemon killed or stopped in pre-copy or stop-copy, and failures on the
// destination after the handshake. Each case ends with every device running
// on exactly one host, the survivor's session ended with the cause, the
// devices free, and a following migration verified.
#include <signal.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/integration/fault_fixture.h"

namespace vmig::testing {
namespace {

// The commit outlives the source's 2 s deadline (three destination arcs of
// 1.5 s each): the source learns the outcome instead of resuming, and the
// devices end on the destination only.
TEST_F(FaultTest, ACommitOutlivingTheSourcesDeadlineEndsOnOneHost) {
  StartDaemons(PrecopyPair(",transition_ms=1500"));
  const auto before = Digests(*src_dev_);
  ASSERT_TRUE(Prepare("slow").ok());
  ASSERT_TRUE(Start("slow", 60000).ok());
  v1::Session s = WaitEnd(*src_mig_, "slow");
  EXPECT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error() << source_->log();
  EXPECT_EQ(WaitEnd(*dst_mig_, "slow").phase(), v1::PHASE_COMPLETED);
  EXPECT_NE(source_->log().find("outcome is unknown"), std::string::npos);
  auto src = Devices(*src_dev_), dst = Devices(*dst_dev_);
  for (const auto& [name, d] : src) {
    EXPECT_EQ(d.state(), v1::DEVICE_STATE_STOP) << name;
    EXPECT_EQ(dst[name].state(), v1::DEVICE_STATE_RUNNING) << name;
    EXPECT_EQ(dst[name].emulated_digest(), before.at(name)) << name;
    EXPECT_TRUE(d.session().empty() && dst[name].session().empty());
  }
}

// The destination is frozen (SIGSTOP) in the middle of its commit for
// longer than the source's deadline: the source waits IN_DOUBT with its
// devices stopped, and both sides agree once it thaws.
TEST_F(FaultTest, ADestinationFrozenPastTheCommitDeadlineEndsOnOneHost) {
  StartDaemons(PrecopyPair(",transition_ms=700"));
  const auto before = Digests(*src_dev_);
  ASSERT_TRUE(Prepare("frozen").ok());
  ASSERT_TRUE(Start("frozen", 60000).ok());
  ASSERT_EQ(WaitPhase(*dst_mig_, "frozen", {v1::PHASE_SWITCHOVER}).phase(),
            v1::PHASE_SWITCHOVER);
  kill(dest_->pid(), SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  v1::Session doubt = Get(*src_mig_, "frozen");
  EXPECT_EQ(doubt.phase(), v1::PHASE_IN_DOUBT) << doubt.error();
  for (const auto& [name, d] : Devices(*src_dev_))
    EXPECT_NE(d.state(), v1::DEVICE_STATE_RUNNING) << name;
  kill(dest_->pid(), SIGCONT);
  v1::Session s = WaitEnd(*src_mig_, "frozen");
  v1::Session t = WaitEnd(*dst_mig_, "frozen");
  EXPECT_EQ(s.phase(), t.phase()) << s.error() << " / " << t.error();
  auto src = Devices(*src_dev_), dst = Devices(*dst_dev_);
  for (const auto& [name, d] : src) {
    const bool src_runs = d.state() == v1::DEVICE_STATE_RUNNING;
    const bool dst_runs = dst[name].state() == v1::DEVICE_STATE_RUNNING &&
                          dst[name].emulated_digest() == before.at(name);
    EXPECT_NE(src_runs, dst_runs) << name << " must run on exactly one host";
  }
}

// The destination dies in the middle of its commit and does not come back:
// the source stays IN_DOUBT with its devices stopped (a cancel is
// refused), until an operator who knows the destination is gone resolves
// it with vmigctl; then its devices run again, intact.
TEST_F(FaultTest, AnOperatorResolvesASessionInDoubtWhoseDestinationDied) {
  StartDaemons(PrecopyPair(",transition_ms=1500"));
  const auto before = Digests(*src_dev_);
  ASSERT_TRUE(Prepare("gone").ok());
  ASSERT_TRUE(Start("gone", 60000).ok());
  ASSERT_EQ(WaitPhase(*dst_mig_, "gone", {v1::PHASE_SWITCHOVER}).phase(),
            v1::PHASE_SWITCHOVER);
  dest_->Kill();
  ASSERT_EQ(WaitPhase(*src_mig_, "gone", {v1::PHASE_IN_DOUBT}).phase(),
            v1::PHASE_IN_DOUBT);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(Get(*src_mig_, "gone").phase(), v1::PHASE_IN_DOUBT);
  for (const auto& [name, d] : Devices(*src_dev_))
    EXPECT_NE(d.state(), v1::DEVICE_STATE_RUNNING) << name;
  v1::Session reply;
  EXPECT_EQ(CancelOnSource("gone", &reply).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  CommandResult r = RunCommand({BinaryPath("control/cli/vmigctl"), "--addr",
                                source_->address(), "migrate", "resolve",
                                "gone", "--resume-source"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  v1::Session s = WaitEnd(*src_mig_, "gone");
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("RESUME_SOURCE"), std::string::npos) << s.error();
  for (const auto& [name, d] : Devices(*src_dev_)) {
    EXPECT_EQ(d.state(), v1::DEVICE_STATE_RUNNING) << name;
    EXPECT_EQ(d.emulated_digest(), before.at(name)) << name;
    EXPECT_TRUE(d.session().empty()) << name;
  }
}

// A cancel while the destination hangs (SIGSTOP) in the handshake cuts the
// call short: vmigctl returns at once, the session ends CANCELLED, and the
// thawed destination rolls its side back by itself.
TEST_F(FaultTest, ACancelWhileThePeerHangsInTheHandshakeIsPromptAndCancelled) {
  StartDaemons(PrecopyPair());
  ASSERT_TRUE(Prepare("hang").ok());
  kill(dest_->pid(), SIGSTOP);
  ASSERT_TRUE(Start("hang", 60000).ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "hang", {v1::PHASE_HANDSHAKE}).phase(),
            v1::PHASE_HANDSHAKE);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = Clock::now();
  CommandResult r =
      RunCommand({BinaryPath("control/cli/vmigctl"), "--addr",
                  source_->address(), "migrate", "cancel", "hang"});
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(took, 3.0) << "the cancel waited out the hung call";
  EXPECT_EQ(WaitEnd(*src_mig_, "hang").phase(), v1::PHASE_CANCELLED);
  ExpectAllIn(*src_dev_, v1::DEVICE_STATE_RUNNING);
  kill(dest_->pid(), SIGCONT);
  // Thawed, the destination takes the late handshake and then misses the
  // source's heartbeats, or takes its abort, or (if it dropped both as
  // expired) still waits PREPARED: the one case that needs its own cancel.
  v1::Session t = WaitPhase(*dst_mig_, "hang", {v1::PHASE_FAILED}, 5);
  if (t.phase() == v1::PHASE_PREPARED) {
    grpc::ClientContext c;
    v1::CancelRequest req;
    req.set_name("sessions/hang");
    EXPECT_TRUE(dst_mig_->Cancel(Ctx(c), req, &t).ok());
  }
  t = WaitEnd(*dst_mig_, "hang");
  EXPECT_TRUE(t.phase() == v1::PHASE_FAILED ||
              t.phase() == v1::PHASE_CANCELLED);
  ExpectAllIn(*dst_dev_, v1::DEVICE_STATE_RUNNING);
}

enum class Stop { kKill, kTerm };
enum class Side { kSource, kDestination };
enum class When { kPrecopy, kStopcopy };

enum class Link { kAfPacket, kMemif };

struct Crash {
  Stop stop;
  Side side;
  When when;
  // Where stop-copy runs (pre-copy always runs over memif). Over memif the
  // destination is memif's zero-copy client.
  Link link = Link::kAfPacket;
};

void PrintTo(const Crash& c, std::ostream* os) {
  *os << (c.stop == Stop::kKill ? "kill -9 " : "SIGTERM ")
      << (c.side == Side::kSource ? "source " : "destination ")
      << (c.when == When::kPrecopy ? "in pre-copy" : "in stop-copy")
      << (c.link == Link::kMemif ? " over memif" : "");
}

std::string CrashName(const ::testing::TestParamInfo<Crash>& i) {
  return std::string(i.param.stop == Stop::kKill ? "Kill9" : "Sigterm") +
         (i.param.side == Side::kSource ? "TheSource" : "TheDestination") +
         (i.param.when == When::kPrecopy ? "InPrecopy" : "InStopcopy") +
         (i.param.link == Link::kMemif ? "OverMemif" : "");
}

// Stop-copy, where the link is busy, runs over af_packet between two
// network namespaces (the transport between hosts), and over memif, where
// the dead peer's shared memory is unmapped under the survivor's workers
// (dataplane/peer_memory_guard.h keeps it until they are between bursts):
// there the destination is a zero-copy client, which redials a restarted
// source in copy mode. Pre-copy (an idle link) runs over memif and covers
// the copy-mode client's redial.
class CrashTest : public FaultTest,
                  public ::testing::WithParamInterface<Crash> {
 protected:
  void SetUp() override {
    FaultTest::SetUp();
    if (GetParam().link == Link::kMemif) {
      dst_dataplane_.clear();  // the fixture's default: a zero-copy client
      return;
    }
    if (GetParam().when != When::kStopcopy) return;
    veth_ = std::make_unique<VethNamespaces>();
    if (!veth_->ok()) VMIG_SKIP_UNLESS_CI(veth_->why_not());
    UseVeth(*veth_);
  }
  void TearDown() override {
    // The daemons go before their namespaces.
    source_.reset();
    dest_.reset();
    veth_.reset();
  }
  std::unique_ptr<VethNamespaces> veth_;

  // The restarted daemon lists the interrupted session as ended, with why.
  void ExpectReported(v1::MigrationService::Stub& stub, const std::string& id,
                      Stop stop, const Daemon& d) {
    v1::Session s = Get(stub, id);
    EXPECT_TRUE(s.phase() == v1::PHASE_FAILED ||
                s.phase() == v1::PHASE_CANCELLED)
        << v1::Phase_Name(s.phase()) << "\n"
        << d.log();
    EXPECT_FALSE(s.error().empty());
    if (stop == Stop::kKill) {
      EXPECT_NE(s.error().find("daemon restarted during"), std::string::npos)
          << s.error();
    }
  }
};

// A daemon killed (-9) or stopped (SIGTERM) in pre-copy or stop-copy: the
// survivor ends its session within the liveness bound plus 2 s naming its
// peer, its devices free (a source's RUNNING and intact); the daemon comes
// back on the same configuration, its data-plane link heals by itself
// within 5 s, and a following migration of the same devices verifies.
TEST_P(CrashTest, TheSurvivorRollsBackAndTheRestartedDaemonMigratesAgain) {
  const Crash c = GetParam();
  std::vector<DeviceSpec> devs = PrecopyPair();
  if (c.when == When::kStopcopy) {
    // No pre-copy, read at 16 MiB/s: stop-copy lasts about 1.5 s.
    for (auto& d : devs) {
      d.source_spec = absl::StrReplaceAll(d.source_spec, {{"|pre_copy", ""}}) +
                      ",read_bw=16MiB/s";
    }
  }
  StartDaemons(devs);
  const auto before = Digests(*src_dev_);
  ASSERT_TRUE(Prepare("c1").ok());
  ASSERT_TRUE(Start("c1", 60000, /*manual=*/c.when == When::kPrecopy).ok());
  const v1::Phase at =
      c.when == When::kPrecopy ? v1::PHASE_READY : v1::PHASE_STOPCOPY;
  ASSERT_EQ(WaitPhase(*src_mig_, "c1", {at}).phase(), at);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  Daemon& victim = c.side == Side::kSource ? *source_ : *dest_;
  Daemon& survivor = c.side == Side::kSource ? *dest_ : *source_;
  if (c.stop == Stop::kKill) {
    victim.Kill();
  } else {
    EXPECT_EQ(victim.Stop(20), 0) << victim.log();
  }
  double took = 0;
  if (c.side == Side::kDestination) {
    v1::Session s = TimedEnd(*src_mig_, "c1", &took);
    ASSERT_TRUE(survivor.Running()) << "the survivor died with its peer:\n"
                                    << survivor.log();
    EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
    EXPECT_NE(s.error().find("destination"), std::string::npos) << s.error();
    for (const auto& [name, d] : Devices(*src_dev_)) {
      EXPECT_EQ(d.state(), v1::DEVICE_STATE_RUNNING) << name;
      EXPECT_EQ(d.emulated_digest(), before.at(name)) << name;
      EXPECT_TRUE(d.session().empty()) << name;
    }
    RestartDestination();
    ExpectReported(*dst_mig_, "c1", c.stop, *dest_);
  } else {
    v1::Session t = TimedEnd(*dst_mig_, "c1", &took);
    ASSERT_TRUE(survivor.Running()) << "the survivor died with its peer:\n"
                                    << survivor.log();
    EXPECT_EQ(t.phase(), v1::PHASE_FAILED);
    EXPECT_NE(t.error().find("source"), std::string::npos) << t.error();
    ExpectAllIn(*dst_dev_, v1::DEVICE_STATE_RUNNING);
    RestartSource();
    ExpectReported(*src_mig_, "c1", c.stop, *source_);
    // Its devices lived on in their state files: back to RUNNING, intact.
    for (const auto& [name, d] : Devices(*src_dev_)) {
      EXPECT_EQ(d.state(), v1::DEVICE_STATE_RUNNING) << name;
      EXPECT_EQ(d.emulated_digest(), before.at(name)) << name;
    }
  }
  EXPECT_LT(took, kLivenessS + 2) << "the survivor noticed too late";
  EXPECT_TRUE(DataplaneServing(*source_, 5)) << source_->log();
  EXPECT_TRUE(DataplaneServing(*dest_, 5)) << dest_->log();
  FollowUpMigrationVerifies("c2");
}

INSTANTIATE_TEST_SUITE_P(
    FirstLaw, CrashTest,
    ::testing::Values(
        Crash{Stop::kKill, Side::kDestination, When::kPrecopy},
        Crash{Stop::kKill, Side::kDestination, When::kStopcopy},
        Crash{Stop::kKill, Side::kSource, When::kPrecopy},
        Crash{Stop::kKill, Side::kSource, When::kStopcopy},
        Crash{Stop::kTerm, Side::kDestination, When::kPrecopy},
        Crash{Stop::kTerm, Side::kDestination, When::kStopcopy},
        Crash{Stop::kTerm, Side::kSource, When::kPrecopy},
        Crash{Stop::kTerm, Side::kSource, When::kStopcopy},
        Crash{Stop::kKill, Side::kDestination, When::kStopcopy, Link::kMemif},
        Crash{Stop::kKill, Side::kSource, When::kStopcopy, Link::kMemif}),
    CrashName);

struct DestinationFault {
  const char* name;
  std::vector<DeviceSpec> devices;
  const char* device;  // the one the error must name
  const char* cause;   // and words of its cause
};

void PrintTo(const DestinationFault& f, std::ostream* os) { *os << f.name; }

class DestinationFaultTest
    : public FaultTest,
      public ::testing::WithParamInterface<DestinationFault> {};

// A failure on the destination after the handshake: the session fails on
// both sides with the device and the cause, and the source runs on, intact.
TEST_P(DestinationFaultTest, FailsWithTheDeviceAndCauseAndTheSourceRunsOn) {
  const DestinationFault& f = GetParam();
  StartDaemons(f.devices);
  const auto before = Digests(*src_dev_);
  ASSERT_TRUE(Prepare("bad").ok());
  ASSERT_TRUE(Start("bad", 60000).ok());
  v1::Session s = WaitEnd(*src_mig_, "bad");
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find(f.device), std::string::npos) << s.error();
  EXPECT_NE(s.error().find(f.cause), std::string::npos) << s.error();
  EXPECT_EQ(WaitEnd(*dst_mig_, "bad").phase(), v1::PHASE_FAILED);
  for (const auto& [name, d] : Devices(*src_dev_)) {
    EXPECT_EQ(d.state(), v1::DEVICE_STATE_RUNNING) << name;
    EXPECT_EQ(d.emulated_digest(), before.at(name)) << name;
    EXPECT_TRUE(d.session().empty()) << name;
  }
  for (const auto& [name, d] : Devices(*dst_dev_))
    EXPECT_TRUE(d.session().empty()) << name;
}

std::string FaultName(const ::testing::TestParamInfo<DestinationFault>& i) {
  return i.param.name;
}

INSTANTIATE_TEST_SUITE_P(
    AfterTheHandshake, DestinationFaultTest,
    ::testing::Values(
        DestinationFault{"ADeviceThatFailsToResume",
                         {{"n0", "emu:state=8MiB,flags=stop_copy|p2p,seed=1",
                           "emu:state=8MiB,fail_arc=STOP>RUNNING_P2P"}},
                         "n0",
                         "no destination device ran"},
        DestinationFault{"ADestinationWithoutP2P",
                         {{"n0", "emu:state=8MiB,flags=stop_copy|p2p,seed=1",
                           "emu:state=8MiB,flags=stop_copy"},
                          {"n1", "emu:state=8MiB,flags=stop_copy|p2p,seed=2",
                           "emu:state=8MiB"}},
                         "n0",
                         "P2P"},
        DestinationFault{
            "ACorruptStream",
            {{"n0",
              "emu:state=8MiB,flags=stop_copy|p2p,corrupt_at=100000,seed=1",
              "emu:state=8MiB"}},
            "n0",
            "corrupt"},
        DestinationFault{"ADeviceSmallerThanTheState",
                         {{"n0", "emu:state=16MiB,flags=stop_copy|p2p,seed=1",
                           "emu:state=4MiB"}},
                         "n0",
                         "this device has 4194304"}),
    FaultName);

// The journal: a source killed in stop-copy comes back listing the
// interrupted session as FAILED with its reason (through vmigctl, as an
// operator would look), with the device attached through the API attached
// again, every device RUNNING with its state; and the same devices migrate.
TEST_F(FaultTest, AfterAKillInStopCopyTheJournalReportsTheSessionAndDevices) {
  // Over af_packet: a kill in the middle of a memif transfer can crash the
  // survivor (see CrashTest).
  VethNamespaces veth;
  if (!veth.ok()) VMIG_SKIP_UNLESS_CI(veth.why_not());
  UseVeth(veth);
  StartDaemons({{"n0", "emu:state=8MiB,flags=stop_copy|p2p,read_bw=16MiB/s",
                 "emu:state=8MiB,seed=11"}});
  auto attach = [&](v1::DeviceService::Stub& stub, const std::string& spec) {
    v1::AttachDeviceRequest req;
    req.set_device_id("api0");
    req.set_emulated_spec(spec);
    grpc::ClientContext c;
    v1::Device out;
    return stub.AttachDevice(Ctx(c), req, &out);
  };
  ASSERT_TRUE(attach(*src_dev_,
                     "emu:state=8MiB,flags=stop_copy|p2p,read_bw=16MiB/s,"
                     "seed=9")
                  .ok());
  ASSERT_TRUE(attach(*dst_dev_, "emu:state=8MiB,seed=19").ok());
  const auto before = Digests(*src_dev_);
  const std::vector<std::string> both = {"n0", "api0"};
  ASSERT_TRUE(Prepare("j1", both).ok());
  ASSERT_TRUE(Start("j1", 60000, false, both).ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "j1", {v1::PHASE_STOPCOPY}).phase(),
            v1::PHASE_STOPCOPY);
  source_->Kill();
  RestartSource();
  ASSERT_TRUE(source_->Running()) << source_->log();
  CommandResult list = RunCommand({BinaryPath("control/cli/vmigctl"), "--addr",
                                   source_->address(), "migrate", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err << source_->log();
  EXPECT_NE(list.out.find("sessions/j1"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("FAILED"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("daemon restarted during PHASE_STOPCOPY"),
            std::string::npos)
      << list.out;
  const auto devices = Devices(*src_dev_);
  ASSERT_TRUE(devices.count("devices/api0")) << source_->log();
  for (const auto& [name, d] : devices) {
    EXPECT_EQ(d.state(), v1::DEVICE_STATE_RUNNING) << name;
    EXPECT_EQ(d.emulated_digest(), before.at(name)) << name;
  }
  EXPECT_EQ(WaitEnd(*dst_mig_, "j1").phase(), v1::PHASE_FAILED);
  ASSERT_TRUE(DataplaneServing(*dest_, 5));
  ASSERT_TRUE(Prepare("j2", both).ok());
  ASSERT_TRUE(Start("j2", 60000, false, both).ok());
  v1::Session s = WaitEnd(*src_mig_, "j2");
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  const auto after = Digests(*dst_dev_);
  for (const std::string& id : both)
    EXPECT_EQ(after.at("devices/" + id), before.at("devices/" + id)) << id;
  source_.reset();  // before their namespaces go
  dest_.reset();
}

// A memif client daemon started while its server is down serves its API
// with the data plane NOT_SERVING, and dials the server once it is up.
TEST_F(FaultTest, AMemifClientStartedBeforeItsServerDialsItOnceItIsUp) {
  StartDaemons(PrecopyPair());
  source_->Kill();
  dest_->Kill();
  RestartDestination();  // the client, first
  EXPECT_FALSE(DataplaneServing(*dest_, 0.5));
  RestartSource();
  EXPECT_TRUE(DataplaneServing(*dest_, 5)) << dest_->log();
  EXPECT_TRUE(DataplaneServing(*source_, 5)) << source_->log();
  MigrateAndVerify("late");
}

// limits.prepared_expiry_ms: a PREPARED session that no source joins
// expires, and its devices are free (RUNNING, reset) again.
TEST_F(FaultTest, APreparedSessionNoSourceJoinsExpiresAndFreesItsDevices) {
  dst_extra_ += "limits { prepared_expiry_ms: 1500 }\n";
  StartDaemons(PrecopyPair());
  ASSERT_TRUE(Prepare("lonely").ok());
  v1::Session t = WaitEnd(*dst_mig_, "lonely");
  EXPECT_EQ(t.phase(), v1::PHASE_FAILED);
  EXPECT_NE(t.error().find("expired"), std::string::npos) << t.error();
  ExpectAllIn(*dst_dev_, v1::DEVICE_STATE_RUNNING);
  // The devices take the next session.
  MigrateAndVerify("joined");
}

// A StartMigration retried with its request_id (its answer was lost) is
// the same session, which migrates once; another request for the id is
// refused.
TEST_F(FaultTest, AStartRetriedWithItsRequestIdIsOneSession) {
  StartDaemons(PrecopyPair());
  ASSERT_TRUE(Prepare("retry").ok());
  v1::StartMigrationRequest req;
  req.set_session_id("retry");
  req.set_peer(dest_->address());
  req.set_request_id("cp-42");
  for (const auto& x : devs_) {
    auto* m = req.add_devices();
    m->set_source(x.id);
    m->set_destination(x.id);
  }
  req.mutable_downtime_budget()->set_seconds(60);
  v1::Session first, again;
  grpc::ClientContext c1, c2, c3;
  ASSERT_TRUE(src_mig_->StartMigration(Ctx(c1), req, &first).ok());
  grpc::Status st = src_mig_->StartMigration(Ctx(c2), req, &again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(again.create_time().nanos(), first.create_time().nanos());
  req.set_request_id("cp-43");
  EXPECT_EQ(src_mig_->StartMigration(Ctx(c3), req, &again).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(WaitEnd(*src_mig_, "retry").phase(), v1::PHASE_COMPLETED);
  EXPECT_EQ(WaitEnd(*dst_mig_, "retry").phase(), v1::PHASE_COMPLETED);
}

// A data-plane link that is down (the peer daemon not running) is refused
// at once, not after a stall.
TEST_F(FaultTest, StartMigrationRefusesAtOnceWhileTheDataLinkIsDown) {
  StartDaemons(PrecopyPair());
  ASSERT_TRUE(Prepare("down").ok());
  dest_->Kill();
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::seconds(5) &&
         DataplaneServing(*source_, 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  grpc::Status st = Start("down", 500);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(st.error_message().find("link to the peer is down"),
            std::string::npos)
      << st.error_message();
  ExpectAllIn(*src_dev_, v1::DEVICE_STATE_RUNNING);
}

}  // namespace
}  // namespace vmig::testing
