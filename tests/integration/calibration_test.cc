// The first migration's promise between real daemons: a calibration file
// written by `vmig-bench calibrate` on one pair makes a fresh pair's first
// migration a measured promise; a pair where either daemon has seen a
// class is not cold; a daemon's own history outlives it; and `vmigctl
// device get` says where each figure came from.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/stall_sentinel.h"
#include "gtest/gtest.h"
#include "tests/integration/migration_fixture.h"

namespace vmig::testing {
namespace {

double Ms(const google::protobuf::Duration& d) {
  return d.seconds() * 1e3 + d.nanos() / 1e6;
}

// A stop-copy-only device (nothing is read before the switchover) into a
// destination device that takes state at 128 MiB/s: cold, its downtime is
// guessed from the link, which is ~10x too fast. Its pace is the
// throttle's, so its downtime holds on a loaded machine.
const char kSource[] = "state=16MiB,flags=stop_copy|p2p,transition_ms=2";
const char kWriteBound[] =
    "state=16MiB,flags=stop_copy|p2p,transition_ms=2,write_bw=128MiB/s";
// A stop-copy-only device that reads at 128 MiB/s.
const char kSlowReader[] =
    "state=8MiB,read_bw=128MiB/s,flags=stop_copy|p2p,transition_ms=2";

v1::Device GetDevice(v1::DeviceService::Stub& stub, const std::string& id) {
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::GetDeviceRequest req;
  req.set_name("devices/" + id);
  v1::Device d;
  EXPECT_TRUE(stub.GetDevice(&c, req, &d).ok());
  return d;
}

std::string DeviceGet(const Daemon& d, const std::string& id) {
  CommandResult r =
      RunCommand({BinaryPath("control/cli/vmigctl"), "--addr", d.address(),
                  "--timeout", "10s", "device", "get", id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// A committed session's promise rested on measurements and was kept.
void ExpectAMeasuredPromiseMet(const v1::Session& s, double budget_ms) {
  const v1::DowntimeReport& r = s.report();
  EXPECT_EQ(r.prediction_guesses(), "") << "the promise rested on a guess";
  EXPECT_LE(Ms(r.downtime()), budget_ms);
  EXPECT_TRUE(r.budget_met());
}

// The same, and the prediction within 25% of the measured downtime.
void ExpectAMeasuredPromiseKept(const v1::Session& s, double budget_ms) {
  ExpectAMeasuredPromiseMet(s, budget_ms);
  const v1::DowntimeReport& r = s.report();
  const double err =
      std::fabs(Ms(r.predicted()) - Ms(r.downtime())) / Ms(r.downtime());
  EXPECT_LE(err, 0.25) << "predicted " << Ms(r.predicted()) << " ms, measured "
                       << Ms(r.downtime()) << " ms";
}

// The prediction's error against the measured downtime.
double PredictionError(const v1::Session& s) {
  const v1::DowntimeReport& r = s.report();
  return std::fabs(Ms(r.predicted()) - Ms(r.downtime())) / Ms(r.downtime());
}

TEST_F(MigrationTest,
       ACalibrationFileFromOnePairMakesAFreshPairsFirstPromiseWithin25Pct) {
  // A host that takes a CPU away for 100 ms (a shared VM's vCPU, CI on an
  // AMD guest: predicted 219 ms for 139) skews a 140 ms downtime, or the
  // calibration, by far more than 25%. The calibration is a median of
  // three runs; and an attempt whose error is past 25% is judged only if
  // the host did not stall while it ran (the sentinel saw no CPU taken for
  // 20 ms or more). One that did is made again, from a new calibration, on
  // a fresh pair.
  const bench::StallSentinel sentinel;
  constexpr int kAttempts = 3;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    const absl::Time began = absl::Now();
    const std::string file =
        dir_.path() + "/calibration" + std::to_string(attempt) + ".textproto";
    CommandResult cal =
        RunCommand({BinaryPath("bench/vmig-bench"), "calibrate", "--devices",
                    kSource, "--dest", kWriteBound, "--runs", "3", "--out",
                    file, "--vmigd", BinaryPath("control/server/vmigd")});
    ASSERT_EQ(cal.exit_code, 0) << cal.out << cal.err;
    // A fresh pair: no history, only the file.
    source_.reset();
    dest_.reset();
    src_extra_ = "calibration_file: \"" + file + "\"\n";
    dst_extra_ = src_extra_;
    ASSERT_NO_FATAL_FAILURE(
        StartDaemons({{"d0", std::string("emu:") + kSource + ",seed=5",
                       std::string("emu:") + kWriteBound + ",seed=6"}}));
    // Each daemon says where its figures come from before any migration.
    const v1::Device src = GetDevice(*src_dev_, "d0");
    EXPECT_EQ(src.measures().arc_origin(), v1::MEASURE_ORIGIN_CALIBRATION)
        << src.DebugString();
    const v1::Device dst = GetDevice(*dst_dev_, "d0");
    EXPECT_EQ(dst.measures().write_origin(), v1::MEASURE_ORIGIN_CALIBRATION)
        << dst.DebugString();
    EXPECT_GT(dst.measures().write_bytes_per_second(), 0);
    EXPECT_LE(dst.measures().write_bytes_per_second(), 1.25 * 128 * 1048576);
    EXPECT_NE(DeviceGet(*dest_, "d0").find("(calibration)"), std::string::npos);

    const std::string id = "first" + std::to_string(attempt);
    ASSERT_NO_FATAL_FAILURE(MigrateAndVerify(id, 400));
    const v1::Session s = Get(*src_mig_, id);
    // Measured here now: this daemon's own figure replaced the file's.
    EXPECT_EQ(GetDevice(*src_dev_, "d0").measures().arc_origin(),
              v1::MEASURE_ORIGIN_HISTORY);
    EXPECT_NE(DeviceGet(*source_, "d0").find("(history)"), std::string::npos);
    const absl::Duration stall = sentinel.LongestIn(began, absl::Now());
    if (PredictionError(s) <= 0.25 || stall == absl::ZeroDuration()) {
      ExpectAMeasuredPromiseKept(s, 400);
      return;
    }
    std::printf(
        "attempt %d: predicted %.1f ms, measured %.1f ms, across a host "
        "stall of %s: not judged\n",
        attempt, Ms(s.report().predicted()), Ms(s.report().downtime()),
        absl::FormatDuration(stall).c_str());
  }
  // Unknown, not failed: every attempt missed across a stall.
  GTEST_SKIP() << "the host stalled in each of " << kAttempts
               << " attempts: the promise's accuracy was not measured";
}

TEST_F(MigrationTest, APairWhereEitherDaemonHasReadAClassIsNotCold) {
  // The destination keeps its history; the source forgets everything when
  // it restarts (no state_dir). The destination's memif client copies, so
  // that it redials the restarted source by itself.
  dst_extra_ = "state_dir: \"" + dir_.path() + "/b-state\"\n";
  dst_dataplane_ =
      "dataplane { lcores: \"0\" main_lcore: 1 ports { name: \"p\" "
      "memif: \"role=client,socket=" +
      dir_.path() +
      "/memif.sock,socket-abstract=no\" ipv4: \"169.254.77.2\" } }\n";
  // Cold: the read rate is a guess. The source learns the device's rate
  // when the device set the pace; a host that takes a CPU away for 100 ms
  // mid-transfer makes the link set it, and the source learns only a floor
  // (CI on an AMD guest, with a build running). Such a pair is started
  // again, fresh, at most twice.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    source_.reset();
    dest_.reset();
    std::filesystem::remove_all(dir_.path() + "/b-state");
    ASSERT_NO_FATAL_FAILURE(
        StartDaemons({{"d0", std::string("emu:") + kSlowReader + ",seed=3",
                       std::string("emu:") + kSlowReader + ",seed=4"}}));
    const std::string id = "cold" + std::to_string(attempt);
    ASSERT_NO_FATAL_FAILURE(MigrateAndVerify(id, kRoomyBudgetMs));
    EXPECT_NE(Get(*src_mig_, id).report().prediction_guesses(), "");
    const v1::DeviceClassMeasures m = GetDevice(*src_dev_, "d0").measures();
    if (m.read_origin() == v1::MEASURE_ORIGIN_HISTORY) break;
    ASSERT_EQ(m.read_floor_origin(), v1::MEASURE_ORIGIN_HISTORY)
        << "the source learnt neither the read rate nor a floor";
    if (attempt == kAttempts)
      GTEST_SKIP() << "the link set the pace in each of " << kAttempts
                   << " cold migrations: the read rate was never measured";
    std::printf("attempt %d: the link set the read's pace; again\n", attempt);
  }
  // A new source daemon that never read the class: the destination tells
  // it what the class's last source measured.
  RestartSource();
  EXPECT_EQ(GetDevice(*src_dev_, "d0").measures().read_origin(),
            v1::MEASURE_ORIGIN_NONE);
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    const v1::DataplaneStatus st = DataplaneStatusOf(*source_);
    up = st.ports_size() > 0 && st.ports(0).link_up();
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(up) << "the destination's memif client did not redial";
  ASSERT_NO_FATAL_FAILURE(MigrateAndVerify("warm", 300));
  // What is checked here is where the promise came from (the peer's
  // measure, not a guess) and that it was kept; its accuracy is the
  // subject of the test above and of prediction_grid_small. Here it rests
  // on one earlier session's read, which a host that takes a CPU away for
  // 100 ms skews either way (CI on an AMD guest: predicted 101 ms for
  // 161, and 183 ms for 80).
  ExpectAMeasuredPromiseMet(Get(*src_mig_, "warm"), 300);
  // A measured figure, not a fixed one: a loaded machine reads the device
  // slower than its throttle, never faster.
  const v1::Device told = GetDevice(*src_dev_, "d0");
  EXPECT_NE(told.measures().read_origin(), v1::MEASURE_ORIGIN_NONE);
  EXPECT_GT(told.measures().read_bytes_per_second(), 0);
  EXPECT_LE(told.measures().read_bytes_per_second(), 1.25 * 128 * 1048576);
}

TEST_F(MigrationTest, AColdPromiseItsBoundCannotKeepFailsFastNamingTheCure) {
  // 8 MiB never read before: the bound assumes 128 MiB/s (62.5 ms) where
  // the link's rate would expect a few; a 30 ms budget is refused before
  // any device stops, and the error says what would make it promisable.
  StartDaemons({{"d0", std::string("emu:") + kSlowReader + ",seed=3",
                 std::string("emu:") + kSlowReader + ",seed=4"}});
  const uint64_t digest = GetDevice(*src_dev_, "d0").emulated_digest();
  ASSERT_TRUE(Prepare("cold").ok());
  ASSERT_TRUE(Start("cold", 30).ok());
  const v1::Session s = WaitEnd(*src_mig_, "cold");
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  for (const char* says : {"guessed: d0 read rate", "calibration_file",
                           "raise the budget", "allow_budget_overrun"})
    EXPECT_NE(s.error().find(says), std::string::npos)
        << says << ": " << s.error();
  const v1::Device after = GetDevice(*src_dev_, "d0");
  EXPECT_EQ(after.state(), v1::DEVICE_STATE_RUNNING);
  EXPECT_EQ(after.emulated_digest(), digest);
}

TEST_F(MigrationTest, ADaemonsOwnHistoryOutlivesItsRestart) {
  src_extra_ = "state_dir: \"" + dir_.path() + "/a-state\"\n";
  StartDaemons({{"d0", std::string("emu:") + kSlowReader + ",seed=3",
                 std::string("emu:") + kSlowReader + ",seed=4"}});
  ASSERT_NO_FATAL_FAILURE(MigrateAndVerify("once", kRoomyBudgetMs));
  const v1::Device before = GetDevice(*src_dev_, "d0");
  // Every session learns the device's last arc. Its read is learnt as a
  // rate when the device set the pace, or as a floor when the link did (a
  // host that takes a CPU away mid-transfer makes the link look slow: CI
  // on an AMD guest), so the test asks that one of the two was learnt and
  // that whichever it was comes back.
  ASSERT_EQ(before.measures().arc_origin(), v1::MEASURE_ORIGIN_HISTORY);
  ASSERT_TRUE(before.measures().read_origin() == v1::MEASURE_ORIGIN_HISTORY ||
              before.measures().read_floor_origin() ==
                  v1::MEASURE_ORIGIN_HISTORY)
      << before.measures().DebugString();
  RestartSource();  // SIGTERM: the history is written as the daemon ends
  const v1::Device after = GetDevice(*src_dev_, "d0");
  EXPECT_EQ(after.device_class(), before.device_class());
  EXPECT_EQ(after.measures().arc_origin(), v1::MEASURE_ORIGIN_HISTORY);
  EXPECT_EQ(after.measures().arc_ns(), before.measures().arc_ns());
  EXPECT_EQ(after.measures().read_origin(), before.measures().read_origin());
  EXPECT_DOUBLE_EQ(after.measures().read_bytes_per_second(),
                   before.measures().read_bytes_per_second());
  EXPECT_EQ(after.measures().read_floor_origin(),
            before.measures().read_floor_origin());
  EXPECT_DOUBLE_EQ(after.measures().read_floor_bytes_per_second(),
                   before.measures().read_floor_bytes_per_second());
}

}  // namespace
}  // namespace vmig::testing
