// A daemon stopped cleanly: what it leaves on the host.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/process.h"

namespace vmig::testing {
namespace {

// The hugepage files of this daemon's file prefix, in every hugetlbfs.
std::vector<std::string> HugepageFiles(const std::string& prefix) {
  std::vector<std::string> out;
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream f(line);
    std::string dev, dir, type;
    if (!(f >> dev >> dir >> type) || type != "hugetlbfs") continue;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().filename().string().rfind(prefix + "map_", 0) == 0)
        out.push_back(e.path().string());
    }
  }
  return out;
}

// A clean stop (SIGTERM) leaves none of the daemon's hugepage files behind:
// they would hold their pages until someone deleted them.
TEST(DaemonSignalTest, ACleanStopLeavesNoHugepageFiles) {
  TempDir dir;
  const std::string prefix = "vmigtest" + std::to_string(getpid());
  Daemon d(dir, "hp",
           "listen { unix_socket: \"" + dir.path() +
               "/hp.sock\" }\n"
               "dataplane { lcores: \"1\" main_lcore: 0 file_prefix: \"" +
               prefix + "\" ports { name: \"p\" memif: \"role=server,socket=" +
               dir.path() +
               "/memif.sock,socket-abstract=no\" ipv4: "
               "\"169.254.77.1\" } }\n");
  ASSERT_TRUE(d.WaitReady()) << d.log();
  if (HugepageFiles(prefix).empty()) {
    GTEST_SKIP() << "the daemon runs without hugepages here (--no-huge)";
  }
  EXPECT_EQ(d.Stop(20), 0) << d.log();
  const std::vector<std::string> left = HugepageFiles(prefix);
  EXPECT_TRUE(left.empty())
      << left.size() << " files left, e.g. " << (left.empty() ? "" : left[0]);
  for (const auto& f : left) std::filesystem::remove(f);
}

// DPDK's lines go through the daemon's logger, once each, with a priority
// journald reads ("<4>dpdk: ..."): none bypasses it (DPDK's own stream
// writes stdout and syslog, which the journal shows twice).
TEST(DaemonLogTest, DpdkLogsThroughTheDaemonsLoggerWithAPriority) {
  TempDir dir;
  Daemon d(dir, "lg",
           "listen { unix_socket: \"" + dir.path() +
               "/lg.sock\" }\n"
               "dataplane { lcores: \"1\" main_lcore: 0 ports { name: \"p\" "
               "memif: \"role=server,socket=" +
               dir.path() +
               "/memif.sock,socket-abstract=no\" ipv4: \"169.254.77.1\" } "
               "}\n");
  ASSERT_TRUE(d.WaitReady()) << d.log();
  EXPECT_EQ(d.Stop(20), 0) << d.log();
  const std::string log = d.log();
  EXPECT_NE(log.find("dpdk: "), std::string::npos) << log;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    EXPECT_TRUE(line.size() > 3 && line[0] == '<' && line[2] == '>')
        << "a line without the daemon's priority: " << line;
  }
}

}  // namespace
}  // namespace vmig::testing
