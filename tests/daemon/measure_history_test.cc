// The measure history's classes: devices that are alike share what earlier
// migrations measured, whatever they are named, hold or keep their state in.
#include "daemon/measure_history.h"

#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

TEST(MeasureHistoryTest, AClassIgnoresNameContentSeedAndStateFile) {
  // As a daemon with a state directory reports its emulated devices.
  EXPECT_EQ(HistoryKey("emu:name=g0d0,state=16777216,write_bw=134217728/s,"
                       "seed=1,state_file=/var/lib/vmigd/emu/g0d0.state"),
            HistoryKey("emu:name=g1d0,state=16777216,write_bw=134217728/s,"
                       "seed=77,state_file=/var/lib/vmigd/emu/g1d0.state"));
  EXPECT_NE(HistoryKey("emu:name=a,state=16777216,write_bw=134217728/s"),
            HistoryKey("emu:name=a,state=16777216,write_bw=268435456/s"));
  // A kernel device is its path.
  EXPECT_EQ(HistoryKey("/dev/vfio/devices/vfio0"), "/dev/vfio/devices/vfio0");
}

TEST(MeasureHistoryTest, AWriteRateLearnedOnOneDeviceServesTheNextOfItsClass) {
  MeasureHistory history;
  history.RecordWrite(
      HistoryKey("emu:name=g0d0,state=16777216,write_bw=134217728/s,"
                 "state_file=/s/g0d0.state"),
      128.0 * 1048576);
  const std::optional<DeviceMeasures> m = history.Device(
      HistoryKey("emu:name=g1d0,state=16777216,write_bw=134217728/s,"
                 "state_file=/s/g1d0.state"));
  ASSERT_TRUE(m.has_value());
  EXPECT_NEAR(m->write_rate, 128.0 * 1048576, 1);
}

TEST(MeasureHistoryTest, StopCopyOverheadShrinksBackAndNeverGoesNegative) {
  MeasureHistory history;
  EXPECT_EQ(history.stop_copy_overhead(), absl::ZeroDuration());
  history.RecordStopCopyOverhead(absl::Milliseconds(4));
  EXPECT_EQ(history.stop_copy_overhead(), absl::Milliseconds(4));
  // A switchover that the model explained entirely halves it...
  history.RecordStopCopyOverhead(absl::ZeroDuration());
  EXPECT_EQ(history.stop_copy_overhead(), absl::Milliseconds(2));
  // ...and one faster than the model counts as explained, not as less.
  history.RecordStopCopyOverhead(absl::Milliseconds(-10));
  EXPECT_EQ(history.stop_copy_overhead(), absl::Milliseconds(1));
}

}  // namespace
}  // namespace vmig::daemon
