// The calibration file: what it refuses (naming the file, the class and the
// field), and that what is written reads back whole.
#include "daemon/measures/calibration_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

class CalibrationFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("vmig-cal-" + std::to_string(getpid()) + ".textproto"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  absl::StatusOr<v1::Calibration> ReadText(const std::string& text) {
    std::ofstream(path_) << text;
    return ReadCalibrationFile(path_);
  }
  std::string path_;
};

TEST_F(CalibrationFileTest, WhatIsWrittenReadsBackWithItsProvenance) {
  v1::Calibration c;
  c.set_version(kCalibrationVersion);
  *c.mutable_provenance() = MakeProvenance("a test");
  auto* m = c.add_classes();
  m->set_device_class("kernel:mdev:mtty-2");
  m->set_read_bytes_per_second(1e6);
  m->set_arc_ns(250'000);
  ASSERT_TRUE(WriteCalibrationFile(path_, c).ok());
  absl::StatusOr<v1::Calibration> back = ReadCalibrationFile(path_);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->classes(0).device_class(), "kernel:mdev:mtty-2");
  EXPECT_EQ(back->classes(0).arc_ns(), 250'000);
  EXPECT_EQ(back->provenance().method(), "a test");
  EXPECT_FALSE(back->provenance().date().empty());
  EXPECT_FALSE(back->provenance().cpu().empty());
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
}

TEST_F(CalibrationFileTest, ABadFileIsRefusedNamingWhatIsWrong) {
  struct Case {
    std::string text, names;
  } cases[] = {
      {"version: 2", "version 2"},
      {"", "version 0"},
      {"version: 1 classes { read_bytes_per_second: 1 }", "device_class"},
      {"version: 1 classes { device_class: \"c\" read_bytes_per_second: -1 }",
       "class c: read_bytes_per_second"},
      {"version: 1 classes { device_class: \"c\" write_bytes_per_second: nan }",
       "write_bytes_per_second"},
      {"version: 1 classes { device_class: \"c\" arc_ns: 3600000000000 }",
       "arc_ns"},
      {"version: 1 commit_overhead_ns: -1", "commit_overhead_ns"},
      {"version: 1 classes { device_class: \"c\" speed: 3 }", "line 1"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<v1::Calibration> r = ReadText(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(r.status().message().find(c.names), std::string::npos)
        << c.text << " -> " << r.status();
    EXPECT_NE(r.status().message().find(path_), std::string::npos);
  }
}

TEST_F(CalibrationFileTest, AMissingFileIsNotFound) {
  EXPECT_EQ(ReadCalibrationFile(path_ + ".absent").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vmig::daemon
