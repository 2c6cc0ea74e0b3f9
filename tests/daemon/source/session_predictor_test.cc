// The source's predictor and its report, apart from any engine: what caps
// hold the stop-copy's rate, why a session waits, what a committed
// switchover teaches the history, and which phase a report blames.
#include "daemon/source/session_predictor.h"

#include <vector>

#include "daemon/source/switchover_report.h"
#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

constexpr double kMiB = 1 << 20;

SourceDevice Dev(std::string id, bool precopy, uint64_t remaining) {
  SourceDevice d;
  d.id = std::move(id);
  d.history_key = d.id;
  d.precopy = precopy;
  if (precopy) {
    d.initial_done = true;
    d.dirty_bytes = remaining;
  } else {
    d.stop_copy_length = remaining;
  }
  return d;
}

// SourceDevice owns its data session: built in place, never copied.
template <typename... D>
std::vector<SourceDevice> Devs(D&&... d) {
  std::vector<SourceDevice> v;
  (v.push_back(std::forward<D>(d)), ...);
  return v;
}

SessionPolicy Budget(absl::Duration budget) {
  SessionPolicy pol;
  pol.budget = budget;
  pol.max_precopy = absl::Seconds(60);
  return pol;
}

TEST(SessionPredictorTest, TheStopCopyRateIsHeldToTheTighterCapAndSaysWhich) {
  std::vector<SourceDevice> devs = Devs(Dev("a", false, 64 << 20));
  MeasureHistory history;
  dataplane::RateLimiter port_cap;
  SessionPredictor p(devs, history, port_cap, "p0", false);
  p.SetProbedLink(1000e6);
  SessionPolicy pol = Budget(absl::Milliseconds(300));
  std::string why;
  EXPECT_DOUBLE_EQ(p.SwitchoverRate(pol, &why), 1000e6);
  EXPECT_EQ(why, "");
  pol.switchover_bandwidth = 500'000'000;
  EXPECT_DOUBLE_EQ(p.SwitchoverRate(pol, &why), 495e6);
  EXPECT_NE(why.find("switchover_bandwidth"), std::string::npos) << why;
  port_cap.SetRate(200'000'000);
  EXPECT_DOUBLE_EQ(p.SwitchoverRate(pol, &why), 198e6);
  EXPECT_NE(why.find("port p0's max_rate"), std::string::npos) << why;
  // A slower link than either cap is the link.
  p.SetProbedLink(100e6);
  EXPECT_DOUBLE_EQ(p.SwitchoverRate(pol, &why), 100e6);
  EXPECT_EQ(why, "");
}

TEST(SessionPredictorTest, PreCopyCarryRaisesTheLinkNeverLowersIt) {
  std::vector<SourceDevice> devs = Devs(Dev("a", true, 0));
  MeasureHistory history;
  dataplane::RateLimiter port_cap;
  SessionPredictor p(devs, history, port_cap, "p0", false);
  p.SetProbedLink(800e6);
  p.SeeLinkCarry(100e6);  // pre-copy that carried only what was dirtied
  EXPECT_DOUBLE_EQ(p.link_rate(), 800e6);
  p.SeeLinkCarry(900e6);
  EXPECT_DOUBLE_EQ(p.link_rate(), 900e6);
}

TEST(SessionPredictorTest, TheFloorDrainsPreCopyDevicesOnly) {
  std::vector<SourceDevice> devs =
      Devs(Dev("pre", true, 512 << 20), Dev("stop", false, 8 << 20));
  for (SourceDevice& d : devs) {
    d.read_rate = 100 * kMiB;
    d.read_source = Source::kMeasured;
    d.arc_source = Source::kMeasured;
  }
  MeasureHistory history;
  dataplane::RateLimiter port_cap;
  SessionPredictor p(devs, history, port_cap, "p0", false);
  p.SetProbedLink(10000 * kMiB);  // the devices set the pace
  const SessionPolicy pol = Budget(absl::Milliseconds(50));
  const Prediction now = p.Predict(pol);
  const Prediction floor = p.PredictFloor(pol);
  EXPECT_LT(floor.stop_copy, now.stop_copy);
  EXPECT_EQ(floor.critical, "stop");
  EXPECT_EQ(now.critical, "pre");
}

TEST(SessionPredictorTest, TheWaitingReasonNamesWhatHoldsTheSession) {
  std::vector<SourceDevice> devs = Devs(Dev("nic0", true, 256 << 20));
  MeasureHistory history;
  dataplane::RateLimiter port_cap;
  SessionPredictor p(devs, history, port_cap, "p0", false);
  p.SetProbedLink(1000 * kMiB);
  const SessionPolicy pol = Budget(absl::Milliseconds(10));
  devs[0].initial_done = false;
  devs[0].initial_bytes = 3 << 20;
  EXPECT_EQ(p.WaitingReason(p.Predict(pol), pol, false),
            "nic0: 3.0 MiB of initial data left to pre-copy");
  devs[0].initial_done = true;
  devs[0].initial_bytes = 0;
  EXPECT_NE(p.WaitingReason(p.Predict(pol), pol, false).find("switchover-ack"),
            std::string::npos);
  devs[0].dirty_rate = 40 * kMiB;
  devs[0].read_rate = 100 * kMiB;
  devs[0].read_source = Source::kMeasured;
  const std::string why = p.WaitingReason(p.Predict(pol), pol, true);
  EXPECT_NE(why.find("nic0: 40.0 MiB/s dirty at 100.0 MiB/s read"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("> budget 10.0 ms"), std::string::npos) << why;
}

TEST(SessionPredictorTest, AnUnreachableBudgetSaysTheFloorAndTheCure) {
  std::vector<SourceDevice> devs = Devs(Dev("gpu0", false, 1ull << 30));
  MeasureHistory history;
  dataplane::RateLimiter port_cap;
  SessionPredictor p(devs, history, port_cap, "p0", false);
  const SessionPolicy pol = Budget(absl::Milliseconds(5));
  const absl::Status s = p.BudgetUnreachable(pol, p.PredictFloor(pol));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("budget 5.0 ms cannot be met"), std::string::npos);
  // Nothing measured: the error says so and how to measure it.
  EXPECT_NE(s.message().find("guessed"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("calibration_file"), std::string::npos);
  EXPECT_NE(s.message().find("allow_budget_overrun"), std::string::npos);
}

// The link as probed is slower than the switchover cap, yet the cap alone
// would break the budget: the refusal names the cap as well, since a
// faster link would not cure it. A cap that alone keeps the budget is not
// named.
TEST(SessionPredictorTest, AnUnreachableBudgetNamesEveryCapThatAloneBreaksIt) {
  std::vector<SourceDevice> devs = Devs(Dev("nic0", false, 16 << 20));
  devs[0].read_rate = 1000 * kMiB;
  devs[0].read_source = Source::kMeasured;
  devs[0].arc_source = Source::kMeasured;
  MeasureHistory history;
  dataplane::RateLimiter port_cap;
  port_cap.SetRate(1'000'000'000);
  SessionPredictor p(devs, history, port_cap, "p0", false);
  p.SetProbedLink(1e6);  // a probe that met a loaded host
  SessionPolicy pol = Budget(absl::Milliseconds(500));
  pol.switchover_bandwidth = 4'000'000;
  const absl::Status s = p.BudgetUnreachable(pol, p.PredictFloor(pol));
  EXPECT_NE(s.message().find("the session's switchover_bandwidth 4.0 MB/s "
                             "alone allows no less than"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(s.message().find("max_rate"), std::string::npos) << s.message();
  // With the link faster than the cap, the cap holds it and is named once.
  p.SetProbedLink(1000e6);
  const absl::Status held = p.BudgetUnreachable(pol, p.PredictFloor(pol));
  const std::string m(held.message());
  EXPECT_NE(m.find("held to the session's switchover_bandwidth"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("alone allows"), std::string::npos) << m;
}

SwitchoverTimes Times(double quiesce_ms, double stop_copy_ms,
                      double commit_ms) {
  SwitchoverTimes t;
  t.start = 1'000'000'000;
  t.quiesced = t.start + static_cast<int64_t>(quiesce_ms * 1e6);
  t.transferred = t.quiesced + static_cast<int64_t>(stop_copy_ms * 1e6);
  t.end = t.transferred + static_cast<int64_t>(commit_ms * 1e6);
  return t;
}

TEST(SessionPredictorTest, ADeviceNearItsLinkShareLearnsOnlyAFloorOfItsRate) {
  // Two devices read only in stop-copy, 64 MiB each in 100 ms of reading:
  // 640 MiB/s each. On a 1280 MiB/s link that is each one's share (the link
  // set the pace: a floor); on a 10 GiB/s link it is the device's own rate.
  for (const double link : {1280 * kMiB, 10240 * kMiB}) {
    std::vector<SourceDevice> devs =
        Devs(Dev("a", false, 64 << 20), Dev("b", false, 64 << 20));
    for (SourceDevice& d : devs) {
      d.stream_bytes = 64 << 20;
      d.last_arc = absl::Milliseconds(1);
      d.transfer = absl::Milliseconds(102);
    }
    MeasureHistory history;
    dataplane::RateLimiter port_cap;
    SessionPredictor p(devs, history, port_cap, "p0", false);
    p.SetProbedLink(link);
    v1::CommitResponse resp;
    p.Learn(resp, Times(2, 104, 3), p.Predict(Budget(absl::Seconds(1))));
    std::optional<DeviceMeasures> m = history.Device("a");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->arc, absl::Milliseconds(1));
    if (link < 2000 * kMiB) {
      EXPECT_EQ(m->read_rate, 0) << "link " << link;
      EXPECT_NEAR(m->read_floor, 640 * kMiB, 1 * kMiB);
    } else {
      EXPECT_NEAR(m->read_rate, 640 * kMiB, 1 * kMiB) << "link " << link;
    }
    // The commit's fixed cost: 3 ms less the destination's arcs (none).
    EXPECT_EQ(history.commit_overhead(), absl::Milliseconds(3));
  }
}

TEST(SwitchoverReportTest, TheOverrunBlamesThePhaseAndDeviceFurthestPast) {
  std::vector<SourceDevice> devs = Devs(Dev("a", false, 0), Dev("b", false, 0));
  devs[0].transfer = absl::Milliseconds(10);
  devs[1].transfer = absl::Milliseconds(30);
  Prediction p;
  p.quiesce = absl::Milliseconds(2);
  p.stop_copy = absl::Milliseconds(12);
  p.commit = absl::Milliseconds(3);
  p.device_stop_copy = {absl::Milliseconds(12), absl::Milliseconds(12)};
  EXPECT_EQ(WorstOverrun(Times(2, 31, 3), devs, p),
            "stop-copy of b: 31.0 ms, predicted 12.0 ms");
  EXPECT_EQ(WorstOverrun(Times(9, 12, 3), devs, p),
            "quiesce: 9.0 ms, predicted 2.0 ms");
  EXPECT_EQ(WorstOverrun(Times(2, 12, 20), devs, p),
            "commit: 20.0 ms, predicted 3.0 ms");
}

TEST(SwitchoverReportTest, AReportWithinItsBudgetAndBoundBlamesNothing) {
  std::vector<SourceDevice> devs = Devs(Dev("a", false, 0));
  devs[0].stream_bytes = 5 << 20;
  devs[0].bytes_at_switchover = 1 << 20;
  ReportContext ctx;
  ctx.predicted.bound = absl::Milliseconds(40);
  ctx.predicted.expected = absl::Milliseconds(20);
  ctx.predicted.device_stop_copy = {absl::Milliseconds(10)};
  ctx.policy = Budget(absl::Milliseconds(50));
  ctx.protection = "aes-256-gcm";
  v1::CommitResponse resp;
  v1::DowntimeReport r = MakeDowntimeReport(resp, Times(2, 10, 3), devs, ctx);
  EXPECT_TRUE(r.budget_met());
  EXPECT_EQ(r.overrun(), "");
  EXPECT_EQ(r.downtime().nanos(), 15'000'000);
  ASSERT_EQ(r.devices_size(), 1);
  EXPECT_EQ(r.devices(0).bytes(), 4u << 20);
  EXPECT_EQ(r.data_protection(), "aes-256-gcm");
  // Past its bound (not its budget): the report says where.
  r = MakeDowntimeReport(resp, Times(2, 50, 3), devs, ctx);
  EXPECT_FALSE(r.budget_met());
  EXPECT_NE(r.overrun().find("stop-copy of a"), std::string::npos)
      << r.overrun();
}

}  // namespace
}  // namespace vmig::daemon
