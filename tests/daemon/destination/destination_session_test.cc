// The destination session on its own: what it does with each peer call in
// each phase, and that every way out before the load resets and releases
// its devices.
#include "daemon/destination/destination_session.h"

#include "tests/daemon/engine_fixture.h"

namespace vmig::daemon::testing {
namespace {

using vfio::DeviceState;

class DestinationSessionTest : public EngineRig {
 protected:
  std::unique_ptr<DestinationSession> Prepared(
      std::shared_ptr<SessionRecord>* record) {
    *record = std::make_shared<SessionRecord>("in", v1::ROLE_DESTINATION);
    auto devs = registry_->Claim(dst_ids_, (*record)->name());
    EXPECT_TRUE(devs.ok());
    auto d = std::make_unique<DestinationSession>(
        *record, dst_ids_, *devs, false, dst_tp_.get(), *registry_);
    EXPECT_TRUE(d->Prepare().ok());
    return d;
  }
  v1::HandshakeRequest Hello(const std::vector<std::string>& order,
                             const std::string& cipher = "aes-256-gcm") {
    v1::HandshakeRequest h;
    h.set_session_id("in");
    h.set_version(1);
    h.set_source_data_ipv4(0xa9fe0001);
    h.set_source_data_udp_port(7700);
    h.set_source_data_mac(std::string("\x02\x00\x00\x00\x00\x01", 6));
    h.set_cipher(cipher);
    h.set_key_share(share_->public_key());
    for (const auto& id : order) h.add_devices()->set_destination(id);
    return h;
  }
  absl::StatusOr<KeyShare> share_ = KeyShare::Generate();
};

TEST_F(DestinationSessionTest,
       TheHandshakeAgreesFreshKeysAUnicastMacAndNeverAnUnprotectedPlane) {
  AddDevices({"emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  // The source asks for no protection; this destination's configuration
  // (aes-256-gcm) wins: unprotected only if both sides say so.
  auto resp = d->Handshake(Hello({"d0"}, "none"));
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->cipher(), "aes-256-gcm");
  EXPECT_EQ(resp->key_share().size(), 32u);
  ASSERT_EQ(resp->data_mac().size(), 6u);
  EXPECT_EQ(resp->data_mac()[0] & 1, 0) << "a unicast MAC";
  EXPECT_EQ(r->Snapshot().data_protection(), "aes-256-gcm");
  // Both sides derive the same keys from the two shares.
  auto mine = share_->Derive(resp->key_share(), "in", KeyShare::Side::kSource);
  EXPECT_TRUE(mine.ok()) << mine.status();
}

TEST_F(DestinationSessionTest,
       TheHandshakeRefusesABroadcastMacAnUnknownCipherAndABadKeyShare) {
  AddDevices({"emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  v1::HandshakeRequest h = Hello({"d0"});
  h.set_source_data_mac(std::string(6, '\xff'));
  EXPECT_EQ(d->Handshake(h).status().code(),
            absl::StatusCode::kInvalidArgument);
  h = Hello({"d0"}, "rot13");
  EXPECT_EQ(d->Handshake(h).status().code(),
            absl::StatusCode::kInvalidArgument);
  h = Hello({"d0"});
  h.set_key_share(std::string(32, '\0'));  // a low-order point
  auto bad = d->Handshake(h);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("key_share"), std::string::npos);
  // None of them took the session: a good handshake still can.
  EXPECT_TRUE(d->Handshake(Hello({"d0"})).ok());
}

TEST_F(DestinationSessionTest, PrepareMovesEveryDeviceToResuming) {
  AddDevices({"emu:", "emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  EXPECT_EQ(r->phase(), v1::PHASE_PREPARED);
  EXPECT_EQ(State("d0"), DeviceState::kResuming);
  EXPECT_EQ(State("d1"), DeviceState::kResuming);
  EXPECT_EQ(registry_->Get("d0")->session(), "sessions/in");
}

TEST_F(DestinationSessionTest, AFailedPrepareResetsAndReleasesEveryDevice) {
  AddDevices({"emu:", "emu:"}, {"emu:", "emu:fail_arc=STOP>RESUMING"});
  auto r = std::make_shared<SessionRecord>("in", v1::ROLE_DESTINATION);
  auto devs = registry_->Claim(dst_ids_, r->name());
  ASSERT_TRUE(devs.ok());
  DestinationSession d(r, dst_ids_, *devs, false, dst_tp_.get(), *registry_);
  absl::Status s = d.Prepare();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("d1"), std::string::npos) << s;
  EXPECT_EQ(r->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(State("d0"), DeviceState::kRunning);
  EXPECT_EQ(State("d1"), DeviceState::kRunning);
  EXPECT_EQ(registry_->Get("d0")->session(), "");
  EXPECT_EQ(registry_->Get("d1")->session(), "");
}

TEST_F(DestinationSessionTest, HandshakeChecksTheSourcesMappingAndPhase) {
  AddDevices({"emu:", "emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  EXPECT_EQ(d->Handshake(Hello({"d0"})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->Handshake(Hello({"d0", "d0"})).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto ok = d->Handshake(Hello({"d1", "d0"}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->devices_size(), 2);
  EXPECT_NE(ok->session_token(), 0u);
  EXPECT_EQ(r->phase(), v1::PHASE_PRECOPY);
  // Streams follow the source's order.
  EXPECT_EQ(r->Snapshot().devices(0).device(), "devices/d1");
  // A second handshake (a replay, or another source) is refused.
  EXPECT_EQ(d->Handshake(Hello({"d1", "d0"})).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(DestinationSessionTest, CommitWithMissingBytesRollsBack) {
  AddDevices({"emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  ASSERT_TRUE(d->Handshake(Hello({"d0"})).ok());
  v1::CommitRequest c;
  c.set_session_id("in");
  c.add_stream_bytes(1234);  // nothing was ever sent
  // The stream never finished: the wait is bounded (10 s) and the commit
  // is answered ABORTED (no device ran) with the device named.
  auto resp = d->Commit(c);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->outcome(), v1::COMMIT_OUTCOME_ABORTED);
  EXPECT_NE(resp->error().find("d0"), std::string::npos) << resp->error();
  EXPECT_EQ(r->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(State("d0"), DeviceState::kRunning);
  EXPECT_EQ(registry_->Get("d0")->session(), "");
  // Asked again (a source that lost the answer), the same answer at once.
  auto again = d->Commit(c);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome(), v1::COMMIT_OUTCOME_ABORTED);
  EXPECT_EQ(again->error(), resp->error());
}

TEST_F(DestinationSessionTest, ACommitPastTheCallersDeadlineIsNotBegun) {
  AddDevices({"emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  ASSERT_TRUE(d->Handshake(Hello({"d0"})).ok());
  v1::CommitRequest c;
  c.set_session_id("in");
  c.add_stream_bytes(0);
  auto late = d->Commit(c, absl::Now() - absl::Seconds(1));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("deadline"), std::string::npos);
  // Nothing was done: still in pre-copy, the device still receiving.
  EXPECT_EQ(r->phase(), v1::PHASE_PRECOPY);
  EXPECT_EQ(State("d0"), DeviceState::kResuming);
  EXPECT_EQ(d->Heartbeat().outcome(), v1::COMMIT_OUTCOME_NONE);
}

TEST_F(DestinationSessionTest, AnAbortFencesOffEveryLaterCommit) {
  AddDevices({"emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  ASSERT_TRUE(d->Handshake(Hello({"d0"})).ok());
  v1::AbortRequest a;
  a.set_session_id("in");
  a.set_reason("commit answer lost");
  auto aborted = d->Abort(a);
  ASSERT_TRUE(aborted.ok());
  EXPECT_EQ(aborted->outcome(), v1::COMMIT_OUTCOME_ABORTED);
  EXPECT_NE(aborted->commit().error().find("commit answer lost"),
            std::string::npos);
  v1::CommitRequest c;
  c.set_session_id("in");
  c.add_stream_bytes(0);
  auto late = d->Commit(c);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->outcome(), v1::COMMIT_OUTCOME_ABORTED);
  EXPECT_EQ(r->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(State("d0"), DeviceState::kRunning);  // reset
  EXPECT_EQ(registry_->Get("d0")->session(), "");
}

TEST_F(DestinationSessionTest, ASilentSourceIsRolledBackAfterTheLivenessBound) {
  AddDevices({"emu:", "emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  // Before the handshake there is no source to hear from (and no expiry
  // was set): nothing to look at.
  EXPECT_EQ(d->CheckHealth(absl::Now() + absl::Hours(1), absl::Seconds(3)),
            absl::InfiniteFuture());
  EXPECT_EQ(r->phase(), v1::PHASE_PREPARED);
  ASSERT_TRUE(d->Handshake(Hello({"d0", "d1"})).ok());
  d->set_source("the source unix:/x");
  const absl::Time t0 = absl::Now();
  const absl::Duration liveness = absl::Seconds(3);
  EXPECT_NE(d->CheckHealth(t0 + absl::Seconds(2), liveness),
            absl::InfiniteFuture());
  EXPECT_EQ(r->phase(), v1::PHASE_PRECOPY);
  (void)d->Heartbeat();  // heard from again
  EXPECT_NE(d->CheckHealth(t0 + absl::Seconds(3), liveness),
            absl::InfiniteFuture());
  EXPECT_EQ(d->CheckHealth(t0 + absl::Seconds(10), liveness),
            absl::InfiniteFuture());
  EXPECT_EQ(r->phase(), v1::PHASE_FAILED);
  EXPECT_NE(r->Snapshot().error().find("the source unix:/x silent"),
            std::string::npos)
      << r->Snapshot().error();
  EXPECT_EQ(State("d0"), DeviceState::kRunning);
  EXPECT_EQ(State("d1"), DeviceState::kRunning);
  EXPECT_EQ(registry_->Get("d0")->session(), "");
  // The source, if it comes back, learns the session is over.
  v1::HeartbeatResponse hb = d->Heartbeat();
  EXPECT_EQ(hb.phase(), v1::PHASE_FAILED);
  EXPECT_EQ(hb.outcome(), v1::COMMIT_OUTCOME_ABORTED);
}

TEST_F(DestinationSessionTest, APreparedSessionNoSourceJoinsExpires) {
  AddDevices({"emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  d->ExpireAfter(absl::Minutes(10));
  const absl::Time t0 = absl::Now();
  // Before its time it only says when to look again.
  const absl::Time due = d->CheckHealth(t0, absl::Seconds(3));
  EXPECT_GE(due, t0 + absl::Minutes(9));
  EXPECT_LE(due, t0 + absl::Minutes(11));
  EXPECT_EQ(r->phase(), v1::PHASE_PREPARED);
  EXPECT_EQ(d->CheckHealth(t0 + absl::Minutes(11), absl::Seconds(3)),
            absl::InfiniteFuture());
  EXPECT_EQ(r->phase(), v1::PHASE_FAILED);
  EXPECT_NE(r->Snapshot().error().find("expired"), std::string::npos)
      << r->Snapshot().error();
  EXPECT_EQ(State("d0"), DeviceState::kRunning);
  EXPECT_EQ(registry_->Get("d0")->session(), "");
  // A source arriving late is refused: the session has ended.
  EXPECT_FALSE(d->Handshake(Hello({"d0"})).ok());
}

TEST_F(DestinationSessionTest, SeveralDevicesWithoutP2PAreRefusedAtHandshake) {
  AddDevices({"emu:", "emu:"}, {"emu:flags=stop_copy|pre_copy", "emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  auto refused = d->Handshake(Hello({"d0", "d1"}));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("devices/d0 lack P2P"),
            std::string::npos)
      << refused.status();
}

TEST_F(DestinationSessionTest, AbortAndCancelEndItOnceAndFreeTheDevices) {
  AddDevices({"emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  v1::AbortRequest a;
  a.set_reason("source gone");
  EXPECT_TRUE(d->Abort(a).ok());
  EXPECT_EQ(r->phase(), v1::PHASE_FAILED);
  EXPECT_NE(r->Snapshot().error().find("source gone"), std::string::npos);
  EXPECT_TRUE(d->Abort(a).ok());  // idempotent
  EXPECT_EQ(d->Cancel("late").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(State("d0"), DeviceState::kRunning);
  EXPECT_EQ(registry_->Get("d0")->session(), "");
}

// dataplane.credit_window_bytes reaches every receive stream, and
// limits.max_memory_bytes bounds their windows together.
class BoundedDestinationTest : public DestinationSessionTest {
 protected:
  void SetUp() override {
    dst_window_bytes_ = 1 << 20;
    dst_max_receive_bytes_ = 3 << 20;
    DestinationSessionTest::SetUp();
  }
};

TEST_F(BoundedDestinationTest, ReceiveWindowsComeFromConfigAndAreBounded) {
  AddDevices({"emu:", "emu:", "emu:", "emu:"});
  std::shared_ptr<SessionRecord> r;
  auto d = Prepared(&r);
  // Four 1 MiB windows do not fit in 3 MiB: the handshake is refused, with
  // the limit named, and the streams it had opened are gone again.
  auto refused = d->Handshake(Hello({"d0", "d1", "d2", "d3"}));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("limits.max_memory_bytes"),
            std::string::npos)
      << refused.status();
  for (const auto& s : dst_tp_->Streams()) {
    EXPECT_TRUE(s->finished());
    EXPECT_EQ(s->spec().flow->window_bytes, 1u << 20);
  }
}

}  // namespace
}  // namespace vmig::daemon::testing
