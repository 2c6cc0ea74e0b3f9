// The one downtime model: hand-computed cases for both schedules, the
// destination's write rate, and a bound that widens with what was guessed.
#include "daemon/model/downtime_model.h"

#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

DeviceTerms Measured(std::string id, uint64_t bytes, double read, double arc_ms,
                     bool precopy) {
  DeviceTerms d;
  d.id = std::move(id);
  d.remaining_bytes = bytes;
  d.read_rate = read;
  d.read_source = Source::kMeasured;
  d.source_arc = d.destination_arc = absl::Microseconds(arc_ms * 1e3);
  d.arc_source = Source::kMeasured;
  d.precopy = precopy;
  return d;
}

LinkTerms Link(double rate, bool serial = false) {
  LinkTerms l;
  l.rate = rate;
  l.rate_source = Source::kMeasured;
  l.commit_overhead = absl::Milliseconds(1);
  l.serial = serial;
  return l;
}

TEST(DowntimeModelTest, ParallelPhasesAreEachTheirSlowestDevice) {
  // Two PRE_COPY devices, 100 MB each at 1 GB/s over a 4 GB/s link: each
  // device's own read is the critical path, not the link.
  const Prediction p =
      PredictDowntime({Measured("a", 100'000'000, 1e9, 2, true),
                       Measured("b", 100'000'000, 1e9, 5, true)},
                      Link(4e9));
  EXPECT_NEAR(Ms(p.quiesce), 5, 1e-6);          // one arc, slowest
  EXPECT_NEAR(Ms(p.stop_copy), 5 + 100, 1e-6);  // arc + 100 MB / 1 GB/s
  EXPECT_NEAR(Ms(p.commit), 1 + 3 * 5, 1e-6);   // overhead + 3 dest arcs
  EXPECT_NEAR(Ms(p.expected), 5 + 105 + 16, 1e-6);
  EXPECT_EQ(p.critical, "a");  // the first of the equally slow devices
  EXPECT_TRUE(p.guesses.empty());
}

TEST(DowntimeModelTest, TheLinkBoundsAParallelStopCopy) {
  const Prediction p =
      PredictDowntime({Measured("a", 100'000'000, 4e9, 1, true),
                       Measured("b", 100'000'000, 4e9, 1, true)},
                      Link(1e9));
  EXPECT_NEAR(Ms(p.stop_copy), 1 + 200, 1e-6);
  EXPECT_EQ(p.critical, "the link");
}

TEST(DowntimeModelTest, DevicesWithoutPrecopyPayTwoArcsIntoStopCopy) {
  const Prediction p =
      PredictDowntime({Measured("a", 10'000'000, 1e9, 4, false)}, Link(1e9));
  EXPECT_NEAR(Ms(p.stop_copy), 2 * 4 + 10, 1e-6);
}

TEST(DowntimeModelTest, AWriteBoundDestinationSetsTheTransfer) {
  DeviceTerms d = Measured("gpu0", 100'000'000, 2e9, 1, true);
  d.write_rate = 0.5e9;  // the destination device takes 500 MB/s
  const Prediction p = PredictDowntime({d}, Link(4e9));
  EXPECT_NEAR(Ms(p.stop_copy), 1 + 200, 1e-6);
  EXPECT_EQ(p.critical, "gpu0");
}

TEST(DowntimeModelTest, SerialAddsEveryDevice) {
  const Prediction p =
      PredictDowntime({Measured("a", 50'000'000, 0.5e9, 2, false),
                       Measured("b", 50'000'000, 2e9, 2, false)},
                      Link(1e9, /*serial=*/true));
  // Each: 1 quiesce arc, 2 arcs to STOP_COPY, bytes at min(read, link);
  // then 3 destination arcs each.
  EXPECT_NEAR(Ms(p.quiesce), 4, 1e-6);
  EXPECT_NEAR(Ms(p.stop_copy), (4 + 100) + (4 + 50), 1e-6);
  EXPECT_NEAR(Ms(p.commit), 1 + 3 * 4, 1e-6);
  EXPECT_EQ(p.critical, "a");
}

TEST(DowntimeModelTest, StopCopysLearnedFixedCostIsPaidOnceInParallel) {
  LinkTerms link = Link(4e9);
  link.stop_copy_overhead = absl::Milliseconds(2);
  const Prediction p =
      PredictDowntime({Measured("a", 100'000'000, 1e9, 1, true),
                       Measured("b", 100'000'000, 1e9, 1, true)},
                      link);
  EXPECT_NEAR(Ms(p.stop_copy), 1 + 100 + 2, 1e-6);
  EXPECT_NEAR(Ms(p.stop_copy_overhead), 2, 1e-6);
  // From history, so the bound allows it more than a measured term.
  EXPECT_GT(Ms(p.bound), Ms(p.expected) + 0.3 * 2);
}

TEST(DowntimeModelTest, StopCopysLearnedFixedCostIsPaidPerDeviceSerially) {
  LinkTerms link = Link(1e9, /*serial=*/true);
  link.stop_copy_overhead = absl::Milliseconds(3);
  const Prediction p =
      PredictDowntime({Measured("a", 50'000'000, 1e9, 1, false),
                       Measured("b", 50'000'000, 1e9, 1, false)},
                      link);
  EXPECT_NEAR(Ms(p.stop_copy), (2 + 50 + 3) + (2 + 50 + 3), 1e-6);
  EXPECT_NEAR(Ms(p.stop_copy_overhead), 6, 1e-6);
}

TEST(DowntimeModelTest, TheBoundWidensWithWhatWasGuessed) {
  const std::vector<DeviceTerms> measured = {
      Measured("a", 100'000'000, 1e9, 2, true)};
  const Prediction m = PredictDowntime(measured, Link(1e9));
  EXPECT_GT(m.bound, m.expected);
  EXPECT_LT(Ms(m.bound), 1.3 * Ms(m.expected));

  DeviceTerms cold = measured[0];
  cold.read_rate = 0;  // never read: the link stands in, as a guess
  cold.arc_source = Source::kGuess;
  LinkTerms guessed_link;  // no probe, no history
  const Prediction g = PredictDowntime({cold}, guessed_link);
  EXPECT_GT(Ms(g.bound), 1.9 * Ms(g.expected));
  EXPECT_NE(g.guesses.find("the link rate"), std::string::npos);
  EXPECT_NE(g.guesses.find("a read rate"), std::string::npos);
  EXPECT_NE(g.guesses.find("a arc latency"), std::string::npos);

  DeviceTerms remembered = measured[0];
  remembered.read_source = Source::kHistory;
  const Prediction h = PredictDowntime({remembered}, Link(1e9));
  EXPECT_GT(h.bound, m.bound);
  EXPECT_LT(h.bound, g.bound);
}

TEST(DowntimeModelTest, AReadFloorRaisesTheBoundsGuessNotTheExpectation) {
  DeviceTerms d = Measured("gpu0", 100'000'000, 0, 1, false);
  d.read_source = Source::kGuess;  // never read alone: the link stands in
  const Prediction guess = PredictDowntime({d}, Link(1e9));
  d.read_floor = 0.9e9;  // it was seen to read at least this fast
  const Prediction floored = PredictDowntime({d}, Link(1e9));
  EXPECT_EQ(floored.expected, guess.expected);
  EXPECT_LT(floored.bound, guess.bound);
}

// A device never read is not promised at the link's rate: whatever the
// link, the bound assumes it streams no faster than the slowest device
// class vmigd supports (the expectation still takes the link's rate).
TEST(DowntimeModelTest,
     ANeverReadDeviceIsBoundedAtTheSlowestClassWhateverTheLink) {
  DeviceTerms d = Measured("gpu0", 32ull << 20, 0, 1, false);
  d.read_source = Source::kGuess;
  for (double link : {1e9, 10e9, 100e9}) {
    const Prediction p = PredictDowntime({d}, Link(link));
    // 32 MiB at 128 MiB/s: at least 250 ms, however fast the link probed.
    EXPECT_GE(Ms(p.bound), 250.0) << link;
    EXPECT_LT(Ms(p.expected), 250.0 * 1e9 / link + 10) << link;
    EXPECT_NE(p.guesses.find("gpu0 read rate (the bound assumes 128 MiB/s)"),
              std::string::npos)
        << p.guesses;
  }
  // Once it was seen reading faster, that is what the bound assumes.
  d.read_floor = 1e9;
  EXPECT_LT(Ms(PredictDowntime({d}, Link(10e9)).bound), 100.0);
}

TEST(DowntimeModelTest, NothingLeftCostsOnlyArcsAndTheCommit) {
  const Prediction p =
      PredictDowntime({Measured("a", 0, 1e9, 3, true)}, Link(1e9));
  EXPECT_NEAR(Ms(p.expected), 3 + 3 + (1 + 9), 1e-6);
}

}  // namespace
}  // namespace vmig::daemon
