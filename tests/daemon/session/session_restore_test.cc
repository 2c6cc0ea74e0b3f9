// What a restarted daemon makes of the sessions its journal recovered: an
// interrupted session ends FAILED ("daemon restarted during PHASE") with its
// devices driven to a safe state, or COMPLETED when the journal shows the
// commit; a source whose commit outcome was unknown leaves its devices
// stopped; finished sessions are listed as they were.
#include "absl/time/clock.h"
#include "daemon/session/session_manager.h"
#include "gtest/gtest.h"
#include "vfio/emu/emu_device.h"

namespace vmig::daemon {
namespace {

using vfio::DeviceState;

class SessionRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    limits_.set_max_sessions(8);
    limits_.set_max_watchers(4);
    for (const char* id : {"s0", "s1", "d0"}) {
      v1::AttachDeviceRequest req;
      req.set_device_id(id);
      req.set_emulated_spec("emu:state=1MiB");
      ASSERT_TRUE(registry_.Attach(req).ok());
    }
  }
  void MoveTo(const std::string& id, DeviceState s) {
    auto d = registry_.Find(id);
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE((*d)->SetState(s).ok());
  }
  DeviceState StateOf(const std::string& id) {
    auto d = registry_.Find(id);
    return d.ok() && (*d)->GetState().ok() ? *(*d)->GetState()
                                           : DeviceState::kError;
  }
  static v1::JournalSession Session(const std::string& id, v1::Role role,
                                    v1::Phase phase, const std::string& dev,
                                    v1::JournalSession::Commit commit) {
    v1::JournalSession s;
    s.set_id(id);
    s.set_role(role);
    s.set_phase(phase);
    s.add_devices(dev);
    s.set_commit(commit);
    return s;
  }

  v1::LimitsConfig limits_;
  DeviceRegistry registry_{8};
};

TEST_F(SessionRestoreTest, EachInterruptedSessionEndsAndItsDevicesAreSafe) {
  MoveTo("s0", DeviceState::kStopCopy);  // interrupted in stop-copy
  MoveTo("s1", DeviceState::kStopCopy);  // after its Commit was sent
  MoveTo("d0", DeviceState::kResuming);  // a destination in pre-copy
  Journal::State state;
  state.sessions["a"] = Session("a", v1::ROLE_SOURCE, v1::PHASE_STOPCOPY, "s0",
                                v1::JournalSession::COMMIT_UNSPECIFIED);
  state.sessions["b"] = Session("b", v1::ROLE_SOURCE, v1::PHASE_STOPCOPY, "s1",
                                v1::JournalSession::COMMIT_BEGUN);
  state.sessions["c"] = Session("c", v1::ROLE_DESTINATION, v1::PHASE_PRECOPY,
                                "d0", v1::JournalSession::COMMIT_UNSPECIFIED);
  state.sessions["e"] = Session("e", v1::ROLE_SOURCE, v1::PHASE_STOPCOPY, "sx",
                                v1::JournalSession::COMMIT_DONE);
  v1::JournalSession old =
      Session("f", v1::ROLE_SOURCE, v1::PHASE_CANCELLED, "s0",
              v1::JournalSession::COMMIT_UNSPECIFIED);
  old.set_error("cancelled");
  state.sessions["f"] = old;

  SessionManager m(registry_, limits_, {}, [](const std::string&) {
    return absl::StatusOr<std::unique_ptr<PeerClient>>(
        absl::UnavailableError("no peers in this test"));
  });
  m.Restore(state);

  auto a = m.Get("sessions/a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->phase(), v1::PHASE_FAILED);
  EXPECT_NE(a->error().find("daemon restarted during PHASE_STOPCOPY"),
            std::string::npos)
      << a->error();
  EXPECT_EQ(StateOf("s0"), DeviceState::kRunning);  // resumed, its state kept

  auto b = m.Get("sessions/b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->phase(), v1::PHASE_IN_DOUBT);
  EXPECT_NE(b->error().find("outcome unknown"), std::string::npos)
      << b->error();
  EXPECT_EQ(StateOf("s1"), DeviceState::kStopCopy);         // left stopped
  EXPECT_EQ(registry_.Get("s1")->session(), "sessions/b");  // and held

  auto c = m.Get("sessions/c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(StateOf("d0"), DeviceState::kRunning);  // reset

  auto e = m.Get("sessions/e");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->phase(), v1::PHASE_COMPLETED);

  auto f = m.Get("sessions/f");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->phase(), v1::PHASE_CANCELLED);
  EXPECT_EQ(f->error(), "cancelled");
  // Nothing stays claimed: the restored sessions hold no device.
  EXPECT_EQ(registry_.Get("s0")->session(), "");
}

// A source session "b" journalled with its commit begun (device s1
// stopped), as a daemon restarted mid-commit finds it.
Journal::State SentItsCommit() {
  Journal::State state;
  v1::JournalSession js;
  js.set_id("b");
  js.set_role(v1::ROLE_SOURCE);
  js.set_phase(v1::PHASE_STOPCOPY);
  js.add_devices("s1");
  js.set_commit(v1::JournalSession::COMMIT_BEGUN);
  js.set_peer("unix:///nowhere.sock");
  state.sessions["b"] = js;
  return state;
}

// A destination that answers Abort with a decision (or never answers).
class DecidingPeer final : public PeerClient {
 public:
  explicit DecidingPeer(v1::CommitOutcome says) : says_(says) {}
  absl::StatusOr<v1::HandshakeResponse> Handshake(
      const v1::HandshakeRequest&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<v1::SwitchoverAckResponse> SwitchoverAck(
      const v1::SwitchoverAckRequest&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<v1::CommitResponse> Commit(const v1::CommitRequest&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<v1::AbortResponse> Abort(const v1::AbortRequest&) override {
    if (says_ == v1::COMMIT_OUTCOME_NONE)
      return absl::UnavailableError("the destination is unreachable");
    v1::AbortResponse r;
    r.set_outcome(says_);
    return r;
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest&) override {
    return absl::UnimplementedError("");
  }
  absl::Status Report(const v1::ReportRequest&) override {
    return absl::OkStatus();
  }

 private:
  const v1::CommitOutcome says_;
};

PeerClientFactory Says(v1::CommitOutcome outcome) {
  return [outcome](const std::string&) {
    return absl::StatusOr<std::unique_ptr<PeerClient>>(
        std::make_unique<DecidingPeer>(outcome));
  };
}

v1::Session WaitForEnd(SessionManager& m, const std::string& name) {
  absl::StatusOr<v1::Session> s;
  for (int i = 0; i < 500; ++i) {
    s = m.Get(name);
    if (s.ok() && s->phase() != v1::PHASE_IN_DOUBT) return *s;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return s.ok() ? *s : v1::Session();
}

// A source restarted during its commit asks the destination, from the
// journal, and acts on its answer: COMMITTED keeps the devices stopped and
// releases them; ABORTED resumes them with their state.
TEST_F(SessionRestoreTest, ASessionInDoubtAfterARestartLearnsItsOutcome) {
  for (const auto outcome :
       {v1::COMMIT_OUTCOME_COMMITTED, v1::COMMIT_OUTCOME_ABORTED}) {
    MoveTo("s1", DeviceState::kStopCopy);
    const Journal::State state = SentItsCommit();
    SessionManager m(registry_, limits_, {}, Says(outcome));
    m.Restore(state);
    // A cancel cannot undo what the destination may run.
    EXPECT_EQ(m.Cancel("sessions/b").status().code(),
              absl::StatusCode::kFailedPrecondition);
    const v1::Session b = WaitForEnd(m, "sessions/b");
    if (outcome == v1::COMMIT_OUTCOME_COMMITTED) {
      EXPECT_EQ(b.phase(), v1::PHASE_COMPLETED) << b.error();
      EXPECT_TRUE(b.committed());
      EXPECT_EQ(StateOf("s1"), DeviceState::kStopCopy);  // never resumed
    } else {
      EXPECT_EQ(b.phase(), v1::PHASE_FAILED);
      EXPECT_FALSE(b.committed());
      EXPECT_NE(b.error().find("the devices run here again"), std::string::npos)
          << b.error();
      EXPECT_EQ(StateOf("s1"), DeviceState::kRunning);
    }
    EXPECT_EQ(registry_.Get("s1")->session(), "") << "still held";
  }
}

// An unreachable destination: the session stays in doubt, its devices
// stopped, until an operator resolves it.
TEST_F(SessionRestoreTest, AnOperatorResolvesASessionInDoubtAfterARestart) {
  for (const auto decision : {v1::ResolveRequest::DECISION_RESUME_SOURCE,
                              v1::ResolveRequest::DECISION_DESTINATION_OWNS}) {
    MoveTo("s1", DeviceState::kStopCopy);
    const Journal::State state = SentItsCommit();
    SessionManager m(registry_, limits_, {}, Says(v1::COMMIT_OUTCOME_NONE));
    m.Restore(state);
    absl::SleepFor(absl::Milliseconds(300));
    absl::StatusOr<v1::Session> still = m.Get("sessions/b");
    ASSERT_TRUE(still.ok());
    EXPECT_EQ(still->phase(), v1::PHASE_IN_DOUBT);
    EXPECT_NE(still->error().find("unreachable"), std::string::npos)
        << still->error();
    EXPECT_EQ(StateOf("s1"), DeviceState::kStopCopy);
    absl::StatusOr<v1::Session> r = m.Resolve("sessions/b", decision);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->phase(), v1::PHASE_FAILED);
    EXPECT_EQ(StateOf("s1"),
              decision == v1::ResolveRequest::DECISION_RESUME_SOURCE
                  ? DeviceState::kRunning
                  : DeviceState::kStopCopy);
    EXPECT_EQ(registry_.Get("s1")->session(), "");
  }
}

// The journal keeps more finished sessions (64) than a daemon serves
// (limits.max_sessions): a restarted daemon keeps its limit, not the
// journal's, and stays at it as new sessions come (a soak saw a restarted
// daemon hold four times its limit, each session with its devices).
TEST_F(SessionRestoreTest,
       ARestartedDaemonKeepsNoMoreFinishedSessionsThanItsLimit) {
  Journal::State state;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "old" + std::to_string(i);
    state.sessions[id] = Session(id, v1::ROLE_DESTINATION, v1::PHASE_COMPLETED,
                                 "d0", v1::JournalSession::COMMIT_BEGUN);
  }
  SessionManager m(registry_, limits_, {}, [](const std::string&) {
    return absl::StatusOr<std::unique_ptr<PeerClient>>(
        absl::UnavailableError("no peers in this test"));
  });
  m.Restore(state);
  EXPECT_EQ(m.List().size(), limits_.max_sessions());
}

}  // namespace
}  // namespace vmig::daemon

namespace vmig::daemon {
namespace {

// A destination killed in its commit, after every device had loaded (its
// journal's last mark COMMIT_BEGUN), among more finished sessions than the
// daemon keeps and whose ids sort after its own: it comes back COMPLETED
// and committed, its device RUNNING (not left stopped, running on no
// host), still listed (the bound drops the sessions that ended longest
// ago, by the journal's order), and a source asking it learns COMMITTED.
TEST_F(SessionRestoreTest, ADestinationKilledInItsCommitFinishesIt) {
  MoveTo("d0", DeviceState::kStop);  // loaded, not yet resumed
  Journal::State state;
  uint64_t seq = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string id = "z" + std::to_string(i);
    state.sessions[id] =
        Session(id, v1::ROLE_DESTINATION, v1::PHASE_FAILED, "gone",
                v1::JournalSession::COMMIT_UNSPECIFIED);
    state.sessions[id].set_sequence(++seq);
  }
  state.sessions["a"] = Session("a", v1::ROLE_DESTINATION, v1::PHASE_SWITCHOVER,
                                "d0", v1::JournalSession::COMMIT_BEGUN);
  state.sessions["a"].set_sequence(++seq);
  SessionManager m(registry_, limits_, {}, [](const std::string&) {
    return absl::StatusOr<std::unique_ptr<PeerClient>>(
        absl::UnavailableError("no peers in this test"));
  });
  m.Restore(state);
  auto a = m.Get("sessions/a");
  ASSERT_TRUE(a.ok()) << "the session in its commit was dropped";
  EXPECT_EQ(a->phase(), v1::PHASE_COMPLETED) << a->error();
  EXPECT_TRUE(a->committed());
  EXPECT_EQ(StateOf("d0"), DeviceState::kRunning);
  v1::AbortRequest ar;
  ar.set_session_id("a");
  absl::StatusOr<v1::AbortResponse> r = m.PeerAbort(ar);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::COMMIT_OUTCOME_COMMITTED);
  // The bound kept the newest finished sessions.
  EXPECT_FALSE(m.Get("sessions/z0").ok());
  EXPECT_TRUE(m.Get("sessions/z19").ok());
}

}  // namespace
}  // namespace vmig::daemon
