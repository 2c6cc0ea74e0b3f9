// The protection a session's handshake agrees, seen from the source: the
// default is encrypted, unprotected only when both daemons say so, and a
// destination that offers less than the source asked, or no unicast MAC, is
// refused before any device moves.
#include "tests/daemon/engine_fixture.h"

namespace vmig::daemon::testing {
namespace {

using vfio::DeviceState;

class SessionProtectionTest : public EngineRig {};

TEST_F(SessionProtectionTest, ByDefaultAMigrationIsEncryptedAndSaysSo) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p|pre_copy,seed=1"},
             {"emu:state=2MiB,seed=9"});
  const uint64_t s0 = Digest("s0");
  v1::Session s = Migrate(Request());
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  EXPECT_EQ(s.data_protection(), "aes-256-gcm");
  EXPECT_EQ(s.report().data_protection(), "aes-256-gcm");
  EXPECT_EQ(dest_record_->Snapshot().data_protection(), "aes-256-gcm");
  EXPECT_EQ(Digest("d0"), s0);
  // Every data frame went through the tag; none failed it.
  const dataplane::CounterSnapshot c = dst_tp_->counters();
  EXPECT_EQ(c[dataplane::kAuthFailures], 0u);
  EXPECT_EQ(c[dataplane::kCrcErrors], 0u);
}

class UnprotectedSessionTest : public EngineRig {
 protected:
  void SetUp() override {
    src_protection_ = dataplane::Protection::kNone;
    dst_protection_ = dataplane::Protection::kNone;
    EngineRig::SetUp();
  }
};

TEST_F(UnprotectedSessionTest, BothDaemonsConfiguredNoneMigrateWithTheCrc) {
  AddDevices({"emu:state=2MiB,flags=stop_copy|p2p|pre_copy,seed=2"},
             {"emu:state=2MiB,seed=8"});
  const uint64_t s0 = Digest("s0");
  v1::Session s = Migrate(Request());
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  EXPECT_EQ(s.data_protection(), "none");
  EXPECT_EQ(s.report().data_protection(), "none");
  EXPECT_EQ(Digest("d0"), s0);
}

class OnlyTheSourceWantsNoneTest : public EngineRig {
 protected:
  void SetUp() override {
    src_protection_ = dataplane::Protection::kNone;
    EngineRig::SetUp();
  }
};

TEST_F(OnlyTheSourceWantsNoneTest, TheDestinationsCipherWins) {
  AddDevices({"emu:state=1MiB,flags=stop_copy|p2p,seed=3"},
             {"emu:state=1MiB,seed=7"});
  v1::Session s = Migrate(Request());
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  EXPECT_EQ(s.data_protection(), "aes-256-gcm");
}

TEST_F(SessionProtectionTest, ADestinationOfferingNoProtectionIsRefused) {
  AddDevices({"emu:state=1MiB,flags=stop_copy|p2p|pre_copy,seed=4"});
  const uint64_t s0 = Digest("s0");
  hooks_.handshake_answer = [](v1::HandshakeResponse& r) {
    r.set_cipher("none");
  };
  v1::Session s = Migrate(Request());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("unprotected"), std::string::npos) << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(Digest("s0"), s0);
  EXPECT_GE(hooks_.aborts.load(), 1) << "the destination is told to let go";
}

TEST_F(SessionProtectionTest, ADestinationWithoutAUnicastMacOrKeyIsRefused) {
  AddDevices({"emu:state=1MiB,flags=stop_copy|p2p|pre_copy,seed=5"});
  const uint64_t s0 = Digest("s0");
  hooks_.handshake_answer = [](v1::HandshakeResponse& r) {
    r.set_data_mac(std::string(6, '\xff'));
  };
  v1::Session s = Migrate(Request());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("unicast"), std::string::npos) << s.error();
  EXPECT_EQ(Digest("s0"), s0);

  hooks_.handshake_answer = [](v1::HandshakeResponse& r) {
    r.set_key_share("short");
  };
  s = Migrate(Request());
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_NE(s.error().find("keys"), std::string::npos) << s.error();
  EXPECT_EQ(State("s0"), DeviceState::kRunning);
  EXPECT_EQ(Digest("s0"), s0);
}

}  // namespace
}  // namespace vmig::daemon::testing
