// The measure history's classes: devices that are alike share what earlier
// migrations measured, whatever they are named, hold or keep their state in.
#include "daemon/measures/measure_history.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "daemon/measures/calibration_file.h"
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

v1::DeviceClassMeasures Class(const std::string& name, double read,
                              double write, int64_t arc_ns) {
  v1::DeviceClassMeasures m;
  m.set_device_class(name);
  m.set_read_bytes_per_second(read);
  m.set_write_bytes_per_second(write);
  m.set_arc_ns(arc_ns);
  return m;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "." + std::to_string(getpid())))
      .string();
}

TEST(MeasureHistoryTest,
     AForeignFigureGivesWayToTheDaemonsOwnWhichThenRefines) {
  MeasureHistory h;
  h.Learn(Class("c", 100e6, 0, 2'000'000), Origin::kCalibration);
  ASSERT_TRUE(h.Device("c").has_value());
  EXPECT_EQ(h.Device("c")->read_origin, Origin::kCalibration);
  // A peer's figure is more trusted than a file's...
  h.Learn(Class("c", 120e6, 0, 0), Origin::kPeer);
  EXPECT_DOUBLE_EQ(h.Device("c")->read_rate, 120e6);
  EXPECT_EQ(h.Device("c")->read_origin, Origin::kPeer);
  // ...and this host's own measurement replaces both outright, then
  // blends with the next.
  h.RecordRead("c", 200e6);
  EXPECT_DOUBLE_EQ(h.Device("c")->read_rate, 200e6);
  EXPECT_EQ(h.Device("c")->read_origin, Origin::kHistory);
  h.RecordRead("c", 100e6);
  EXPECT_DOUBLE_EQ(h.Device("c")->read_rate, 150e6);
  // A foreign figure never replaces it again.
  h.Learn(Class("c", 1e6, 0, 0), Origin::kPeer);
  EXPECT_DOUBLE_EQ(h.Device("c")->read_rate, 150e6);
  // The arc no one here measured is still the file's.
  EXPECT_EQ(h.Device("c")->arc, absl::Milliseconds(2));
  EXPECT_EQ(h.Device("c")->arc_origin, Origin::kCalibration);
}

TEST(MeasureHistoryTest, APeerIsToldMeasurementsNeverACalibrationFilesFigures) {
  MeasureHistory h;
  h.Learn(Class("c", 100e6, 50e6, 3'000'000), Origin::kCalibration);
  h.RecordWrite("c", 70e6);
  h.Learn(Class("c", 0, 0, 4'000'000), Origin::kPeer);
  const v1::DeviceClassMeasures told = SharedMeasures("c", *h.Device("c"));
  EXPECT_EQ(told.read_bytes_per_second(), 0);      // the file's
  EXPECT_EQ(told.write_bytes_per_second(), 70e6);  // measured here
  EXPECT_EQ(told.arc_ns(), 4'000'000);             // a peer measured it
}

TEST(MeasureHistoryTest, FiguresNoDeviceHasAreDroppedFromAPeer) {
  MeasureHistory h;
  for (double bad : {-1.0, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity(), 1e15}) {
    h.Learn(Class("c", bad, 0, 0), Origin::kPeer);
    EXPECT_FALSE(h.Device("c").has_value()) << bad;
  }
  h.Learn(Class("c", 1e6, 0, -5), Origin::kPeer);
  h.Learn(Class("c", 1e6, 0, 3'600'000'000'000), Origin::kPeer);
  EXPECT_FALSE(h.Device("c").has_value());
  h.Learn(Class("", 1e6, 0, 0), Origin::kPeer);
  EXPECT_FALSE(h.Device("").has_value());
}

TEST(MeasureHistoryTest, TheDaemonsOwnHistoryOutlivesItWithItsOrigins) {
  const std::string path = TempPath("vmig-history");
  std::filesystem::remove(path);
  {
    MeasureHistory h;
    ASSERT_TRUE(h.PersistTo(path).ok());
    h.Learn(Class("told", 5e6, 0, 0), Origin::kPeer);
    h.RecordRead("mine", 300e6);
    h.RecordArc("mine", absl::Milliseconds(3));
    h.RecordCommitOverhead(absl::Milliseconds(2));
    h.RecordLink(2e9);
  }  // the destructor writes what is pending
  MeasureHistory again;
  ASSERT_TRUE(again.PersistTo(path).ok());
  ASSERT_TRUE(again.Device("mine").has_value());
  EXPECT_DOUBLE_EQ(again.Device("mine")->read_rate, 300e6);
  EXPECT_EQ(again.Device("mine")->read_origin, Origin::kHistory);
  EXPECT_EQ(again.Device("mine")->arc, absl::Milliseconds(3));
  EXPECT_EQ(again.Device("told")->read_origin, Origin::kPeer);
  EXPECT_EQ(again.commit_overhead(), absl::Milliseconds(2));
  EXPECT_DOUBLE_EQ(again.link(), 2e9);
  std::filesystem::remove(path);
}

TEST(MeasureHistoryTest, ADamagedHistoryIsRelearnedNotFatal) {
  const std::string path = TempPath("vmig-history-bad");
  std::ofstream(path) << "version: 1 classes { device_class: \"c\" "
                         "read_bytes_per_second: -3 }";
  MeasureHistory h;
  EXPECT_TRUE(h.PersistTo(path).ok());
  EXPECT_FALSE(h.Device("c").has_value());
  h.RecordRead("c", 1e6);
  h.Flush();
  absl::StatusOr<v1::Calibration> rewritten = ReadCalibrationFile(path);
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  ASSERT_EQ(rewritten->classes_size(), 1);
  EXPECT_EQ(rewritten->classes(0).read_origin(), v1::MEASURE_ORIGIN_HISTORY);
  EXPECT_FALSE(rewritten->provenance().host().empty());
  std::filesystem::remove(path);
}

TEST(MeasureHistoryTest, ACalibrationFileSeedsClassesAndThePairsFixedCosts) {
  v1::Calibration c;
  c.set_version(kCalibrationVersion);
  *c.add_classes() = Class("c", 0, 128e6, 2'000'000);
  c.set_commit_overhead_ns(1'500'000);
  c.set_stop_copy_overhead_ns(700'000);
  c.set_link_bytes_per_second(9e9);  // a file's link is not this pair's
  MeasureHistory h;
  h.LearnCalibration(c);
  EXPECT_EQ(h.Device("c")->write_origin, Origin::kCalibration);
  EXPECT_EQ(h.commit_overhead(), absl::Microseconds(1500));
  EXPECT_EQ(h.stop_copy_overhead(), absl::Microseconds(700));
  EXPECT_EQ(h.link(), 0);
  // Measured here, the fixed costs are this daemon's from then on.
  h.RecordStopCopyOverhead(absl::Milliseconds(4));
  EXPECT_EQ(h.stop_copy_overhead(), absl::Milliseconds(4));
}

}  // namespace
}  // namespace vmig::daemon
