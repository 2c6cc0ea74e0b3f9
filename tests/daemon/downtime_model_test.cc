// The one downtime model: hand-computed cases for both schedules.
#include "daemon/downtime_model.h"

#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

TEST(DowntimeModelTest, ParallelIsArcsPlusTheSlowerOfDeviceAndLink) {
  // Two PRE_COPY devices: 5 arcs of 10 ms; 100 MB at 1 GB/s read is 100 ms
  // per device, but 200 MB over a 1 GB/s link is 200 ms.
  std::vector<DeviceTerms> d = {{100'000'000, 1e9, true},
                                {100'000'000, 1e9, true}};
  EXPECT_DOUBLE_EQ(Ms(PredictDowntime(d, {1e9, absl::Milliseconds(10), false})),
                   50 + 200);
  // A fast link: the slowest device bounds it.
  EXPECT_DOUBLE_EQ(
      Ms(PredictDowntime(d, {1e10, absl::Milliseconds(10), false})), 50 + 100);
}

TEST(DowntimeModelTest, ADeviceWithoutPrecopyCostsAnArcMore) {
  std::vector<DeviceTerms> d = {{0, 0, true}, {0, 0, false}};
  EXPECT_DOUBLE_EQ(Ms(PredictDowntime(d, {1e9, absl::Milliseconds(10), false})),
                   60);
}

TEST(DowntimeModelTest, SerialPaysEveryDevicesArcsAndBytes) {
  std::vector<DeviceTerms> d = {{50'000'000, 5e8, false},
                                {50'000'000, 2e9, false}};
  // 2 x 6 arcs of 1 ms + 50 MB at 0.5 GB/s + 50 MB at min(2, 1) GB/s.
  EXPECT_DOUBLE_EQ(Ms(PredictDowntime(d, {1e9, absl::Milliseconds(1), true})),
                   12 + 100 + 50);
}

TEST(DowntimeModelTest, UnknownRatesFallBackToTheAssumedLink) {
  std::vector<DeviceTerms> d = {
      {static_cast<uint64_t>(kAssumedLinkRate), 0, true}};
  EXPECT_DOUBLE_EQ(Ms(PredictDowntime(d, {0, absl::Milliseconds(1), false})),
                   5 + 1000);
}

}  // namespace
}  // namespace vmig::daemon
