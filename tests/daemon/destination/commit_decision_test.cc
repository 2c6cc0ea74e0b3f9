// The destination's one decision point, apart from any device: a commit
// and a rollback cannot both happen, a decided commit answers the same way
// every time, and the periodic check names what ends a session.
#include "daemon/destination/commit_decision.h"

#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

using Decision = CommitDecision::Decision;

class CommitDecisionTest : public ::testing::Test {
 protected:
  SessionRecord record_{"in", v1::ROLE_DESTINATION};
  CommitDecision decision_{record_};
};

TEST_F(CommitDecisionTest, AFenceBeforeTheCommitMakesEveryCommitAnswerAborted) {
  decision_.Handshaken();
  EXPECT_EQ(decision_.Fence("source aborted: test"), Decision::kNone);
  // A second fence finds it decided.
  EXPECT_EQ(decision_.Fence("again"), Decision::kAborted);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::optional<v1::CommitResponse>> r =
        decision_.Begin(absl::InfiniteFuture());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->outcome(), v1::COMMIT_OUTCOME_ABORTED);
    EXPECT_EQ((*r)->error(), "source aborted: test");
  }
  EXPECT_EQ(decision_.AbortAnswer().outcome(), v1::COMMIT_OUTCOME_ABORTED);
}

TEST_F(CommitDecisionTest, ABegunCommitCannotBeFencedAndAnswersItsOutcome) {
  decision_.Handshaken();
  absl::StatusOr<std::optional<v1::CommitResponse>> r =
      decision_.Begin(absl::InfiniteFuture());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());  // this call began it
  EXPECT_EQ(decision_.Fence("cancel"), Decision::kCommitting);
  EXPECT_EQ(decision_.AbortAnswer().outcome(), v1::COMMIT_OUTCOME_IN_PROGRESS);
  EXPECT_EQ(decision_.Begin(absl::InfiniteFuture()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(decision_.committed());
  v1::CommitResponse done;
  done.set_outcome(v1::COMMIT_OUTCOME_COMMITTED);
  done.set_load_ns(7);
  decision_.Decide(Decision::kCommitted, done);
  EXPECT_TRUE(decision_.committed());
  r = decision_.Begin(absl::InfiniteFuture());
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->load_ns(), 7);
  const v1::AbortResponse a = decision_.AbortAnswer();
  EXPECT_EQ(a.outcome(), v1::COMMIT_OUTCOME_COMMITTED);
  EXPECT_EQ(a.commit().load_ns(), 7);
  EXPECT_EQ(decision_.Heartbeat().outcome(), v1::COMMIT_OUTCOME_COMMITTED);
}

TEST_F(CommitDecisionTest, NoCommitBeginsBeforeTheHandshakeOrPastItsDeadline) {
  EXPECT_EQ(decision_.Begin(absl::InfiniteFuture()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  decision_.Handshaken();
  absl::StatusOr<std::optional<v1::CommitResponse>> late =
      decision_.Begin(absl::InfinitePast());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("nothing was done"),
            std::string::npos);
  // Nothing was decided: a rollback may still fence it.
  EXPECT_EQ(decision_.Fence("cancel"), Decision::kNone);
}

TEST_F(CommitDecisionTest,
       TheCheckNamesAnExpiredOrSilentSessionAndNothingMore) {
  const absl::Time t0 = absl::Now();
  decision_.ExpireAfter(absl::Seconds(30));
  CommitDecision::Health h = decision_.Check(t0, absl::Seconds(1));
  EXPECT_EQ(h.why, "");
  EXPECT_FALSE(h.look_at_streams);
  EXPECT_GT(h.next, t0 + absl::Seconds(29));  // nothing to do till then
  EXPECT_TRUE(decision_.Requeue());           // a queued source: from now
  h = decision_.Check(t0 + absl::Seconds(31), absl::Seconds(1));
  EXPECT_NE(h.why.find("no source joined within 30s"), std::string::npos)
      << h.why;
  EXPECT_FALSE(h.silent);

  decision_.set_source("the source 10.0.0.1:7000");
  decision_.Handshaken();
  EXPECT_FALSE(decision_.Requeue());  // the line is behind it
  h = decision_.Check(absl::Now(), absl::Seconds(5));
  EXPECT_EQ(h.why, "");
  EXPECT_TRUE(h.look_at_streams);
  h = decision_.Check(absl::Now() + absl::Seconds(6), absl::Seconds(5));
  EXPECT_TRUE(h.silent);
  EXPECT_NE(h.why.find("the source 10.0.0.1:7000 silent for"),
            std::string::npos)
      << h.why;
  // Once decided there is nothing more to watch.
  (void)decision_.Fence(h.why);
  h = decision_.Check(absl::Now() + absl::Hours(1), absl::Seconds(5));
  EXPECT_EQ(h.why, "");
  EXPECT_EQ(h.next, absl::InfiniteFuture());
}

TEST_F(CommitDecisionTest,
       AHeartbeatAfterAFenceGivesItsReasonBeforeTheRollback) {
  record_.Update([](v1::Session& p) { p.set_phase(v1::PHASE_PRECOPY); });
  decision_.Handshaken();
  (void)decision_.Fence("the destination device failed: EIO");
  const v1::HeartbeatResponse hb = decision_.Heartbeat();
  EXPECT_EQ(hb.phase(), v1::PHASE_FAILED);
  EXPECT_EQ(hb.error(), "the destination device failed: EIO");
  EXPECT_EQ(hb.outcome(), v1::COMMIT_OUTCOME_ABORTED);
}

}  // namespace
}  // namespace vmig::daemon
