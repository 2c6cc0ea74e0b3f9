// The metrics endpoint as Prometheus scrapes it, on two daemons during and
// after a migration: every page passes `promtool check metrics`; the
// source shows the running session's bytes and phase, the link and each
// worker's counters; after it, both show the outcome, the downtime
// histogram and the bytes moved; a cancelled one counts as a rollback by
// the phase it left.
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/migration_fixture.h"

namespace vmig::testing {
namespace {

class MetricsTest : public MigrationTest {
 protected:
  void EnableMetrics() {
    src_port_ = FreeTcpPort();
    dst_port_ = FreeTcpPort();
    src_extra_ += absl::StrCat(
        "metrics { listen_address: \"127.0.0.1:", src_port_, "\" }\n");
    dst_extra_ += absl::StrCat(
        "metrics { listen_address: \"127.0.0.1:", dst_port_, "\" }\n");
  }
  // scripts/setup.sh installs them; without them the test fails, saying so.
  void RequireTools() {
    ASSERT_EQ(
        RunCommand({"/bin/sh", "-c", "command -v promtool && command -v curl"})
            .exit_code,
        0)
        << "promtool (Debian package prometheus) or curl missing: run "
           "scripts/setup.sh";
  }
  // The page at `port`, checked by promtool (a failure names its findings).
  std::string Scrape(int port) {
    const std::string url = absl::StrCat("http://127.0.0.1:", port, "/metrics");
    CommandResult page =
        RunCommand({"/usr/bin/curl", "-sS", "--max-time", "10", url});
    EXPECT_EQ(page.exit_code, 0) << page.err;
    CommandResult check =
        RunCommand({"/bin/sh", "-c",
                    absl::StrCat("curl -sS --max-time 10 ", url,
                                 " | promtool check metrics")});
    EXPECT_EQ(check.exit_code, 0)
        << "promtool check metrics: " << check.out << check.err;
    return page.out;
  }
  int src_port_ = 0, dst_port_ = 0;
};

// The value of the sample `series` ("name{labels}" as the page writes it),
// or -1 if the page has none.
double Value(const std::string& page, const std::string& series) {
  const std::string at = "\n" + series + " ";
  const size_t i = ("\n" + page).find(at);
  if (i == std::string::npos) return -1;
  const size_t start = i + at.size() - 1;
  const size_t end = page.find('\n', start);
  double v = -1;
  if (!absl::SimpleAtod(page.substr(start, end - start), &v)) return -1;
  return v;
}

TEST_F(MetricsTest, ScrapedDuringAndAfterAMigrationTheyPassPromtool) {
  RequireTools();
  EnableMetrics();
  StartDaemons({{"nic0", "emu:state=8MiB,flags=stop_copy|p2p|pre_copy,seed=1",
                 "emu:state=8MiB,flags=stop_copy|p2p|pre_copy"}});
  ASSERT_NO_FATAL_FAILURE(StartManualUntilReady("m1"));

  const std::string during = Scrape(src_port_);
  EXPECT_EQ(Value(during,
                  "vmigd_session_phase{session=\"m1\",role=\"source\","
                  "phase=\"ready\"}"),
            1)
      << during;
  EXPECT_GE(Value(during,
                  "vmigd_session_transferred_bytes{session=\"m1\","
                  "role=\"source\"}"),
            8 << 20)
      << during;
  EXPECT_EQ(Value(during, "vmigd_dataplane_link_up{port=\"p\"}"), 1) << during;
  // Sharing the link: the port's cap (none here) and rates, the session's
  // caps, and nobody queued.
  EXPECT_EQ(
      Value(during, "vmigd_dataplane_max_rate_bytes_per_second{port=\"p\"}"), 0)
      << during;
  EXPECT_GE(Value(during, "vmigd_dataplane_tx_bytes_per_second{port=\"p\"}"), 0)
      << during;
  EXPECT_EQ(Value(during,
                  "vmigd_session_max_bandwidth_bytes_per_second{session="
                  "\"m1\",role=\"source\"}"),
            0)
      << during;
  EXPECT_EQ(Value(during, "vmigd_sessions_queued{role=\"source\"}"), 0)
      << during;
  EXPECT_GT(Value(during,
                  "vmigd_dataplane_tx_frames_total{port=\"p\","
                  "worker=\"0\",lcore=\"1\"}"),
            0)
      << during;
  EXPECT_EQ(Value(during,
                  "vmigd_migrations_total{role=\"source\","
                  "outcome=\"completed\"}"),
            -1);

  ASSERT_TRUE(SwitchoverOnSource("m1").ok());
  ASSERT_EQ(WaitEnd(*src_mig_, "m1").phase(), v1::PHASE_COMPLETED);
  ASSERT_EQ(WaitEnd(*dst_mig_, "m1").phase(), v1::PHASE_COMPLETED);

  const std::string after = Scrape(src_port_);
  EXPECT_EQ(
      Value(after,
            "vmigd_migrations_total{role=\"source\",outcome=\"completed\"}"),
      1)
      << after;
  EXPECT_EQ(Value(after, "vmigd_downtime_seconds_count{role=\"source\"}"), 1)
      << after;
  EXPECT_EQ(Value(after,
                  "vmigd_downtime_seconds_bucket{role=\"source\","
                  "le=\"+Inf\"}"),
            1)
      << after;
  EXPECT_GT(Value(after, "vmigd_downtime_seconds_sum{role=\"source\"}"), 0)
      << after;
  EXPECT_EQ(Value(after, "vmigd_prediction_error_ratio_count{role=\"source\"}"),
            1)
      << after;
  EXPECT_GE(Value(after, "vmigd_migrated_bytes_total{role=\"source\"}"),
            8 << 20)
      << after;
  EXPECT_EQ(Value(after,
                  "vmigd_session_phase{session=\"m1\",role=\"source\","
                  "phase=\"completed\"}"),
            1)
      << after;

  const std::string dest = Scrape(dst_port_);
  EXPECT_EQ(Value(dest,
                  "vmigd_migrations_total{role=\"destination\","
                  "outcome=\"completed\"}"),
            1)
      << dest;
  EXPECT_GE(Value(dest, "vmigd_migrated_bytes_total{role=\"destination\"}"),
            8 << 20)
      << dest;
  EXPECT_GT(Value(dest,
                  "vmigd_dataplane_rx_bytes_total{port=\"p\","
                  "worker=\"0\",lcore=\"0\"}"),
            8 << 20)
      << dest;
}

TEST_F(MetricsTest, ACancelledMigrationCountsAsARollbackFromItsPhase) {
  RequireTools();
  EnableMetrics();
  StartDaemons({{"nic0", "emu:state=8MiB,flags=stop_copy|p2p|pre_copy,seed=1",
                 "emu:state=8MiB,flags=stop_copy|p2p|pre_copy"}});
  ASSERT_NO_FATAL_FAILURE(StartManualUntilReady("c1"));
  v1::Session s;
  ASSERT_TRUE(CancelOnSource("c1", &s).ok());
  ASSERT_EQ(WaitEnd(*src_mig_, "c1").phase(), v1::PHASE_CANCELLED);
  const std::string page = Scrape(src_port_);
  EXPECT_EQ(Value(page,
                  "vmigd_migrations_total{role=\"source\","
                  "outcome=\"cancelled\"}"),
            1)
      << page;
  EXPECT_EQ(Value(page,
                  "vmigd_rollbacks_total{role=\"source\",phase=\"ready\","
                  "cause=\"cancelled\"}"),
            1)
      << page;
  EXPECT_EQ(Value(page, "vmigd_downtime_seconds_count{role=\"source\"}"), -1)
      << page;
}

}  // namespace
}  // namespace vmig::testing
