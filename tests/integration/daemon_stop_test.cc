// A daemon stopped cleanly: what it leaves on the host.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/process.h"
#include "vmig/v1/migration.grpc.pb.h"

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

// Opens a watch of `session` with the longest interval the API allows and
// reads its first event. Null if the daemon refused it or sent nothing.
// The call stays open as long as the reader lives.
std::unique_ptr<grpc::ClientReader<v1::SessionEvent>>
WatchWithTenMinuteInterval(v1::MigrationService::Stub& stub,
                           const std::string& session,
                           grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  v1::WatchSessionRequest req;
  req.set_name("sessions/" + session);
  req.mutable_interval()->set_seconds(600);
  std::unique_ptr<grpc::ClientReader<v1::SessionEvent>> r =
      stub.WatchSession(&ctx, req);
  v1::SessionEvent ev;
  if (r->Read(&ev) && ev.session().phase() == v1::PHASE_PREPARED) return r;
  ctx.TryCancel();
  return nullptr;
}

// A watcher sleeps out its interval between events, up to ten minutes, but
// neither a client that went away nor a SIGTERM waits for it: the slot is
// free again at once (the daemon serves one watcher here), and the daemon
// stops promptly with a watcher still open.
TEST(DaemonSignalTest, AWatcherWithALongIntervalHoldsNeitherItsSlotNorTheStop) {
  TempDir dir;
  Daemon d(dir, "wt",
           "listen { unix_socket: \"" + dir.path() +
               "/wt.sock\" }\n"
               "limits { max_watchers: 1 }\n"
               "devices { device_id: \"d0\" emulated_spec: \"emu:state=1MiB\" "
               "}\n"
               "dataplane { lcores: \"1\" main_lcore: 0 ports { name: \"p\" "
               "memif: \"role=server,socket=" +
               dir.path() + "/memif.sock,socket-abstract=no\" } }\n");
  ASSERT_TRUE(d.WaitReady()) << d.log();
  auto stub = v1::MigrationService::NewStub(d.Channel());
  {
    v1::PrepareIncomingRequest req;
    req.set_session_id("w1");
    req.add_devices("d0");
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::Session s;
    const grpc::Status st = stub->PrepareIncoming(&c, req, &s);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  {
    grpc::ClientContext first;
    auto watch = WatchWithTenMinuteInterval(*stub, "w1", first);
    ASSERT_NE(watch, nullptr);
    first.TryCancel();  // the client goes away mid-interval
  }
  // The slot comes back within a second or so (the daemon notices a client
  // that left every 100 ms); ten seconds bound the wait on a busy host.
  auto second = std::make_unique<grpc::ClientContext>();
  std::unique_ptr<grpc::ClientReader<v1::SessionEvent>> open;
  for (int i = 0; i < 50 && !open; ++i) {
    open = WatchWithTenMinuteInterval(*stub, "w1", *second);
    if (!open) {
      second = std::make_unique<grpc::ClientContext>();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  ASSERT_NE(open, nullptr) << "the departed watcher still holds the only slot";
  // SIGTERM with that watcher open: the server's shutdown cancels the call,
  // and the watcher returns instead of sleeping out its ten minutes.
  double seconds = 0;
  EXPECT_EQ(d.Stop(30, &seconds), 0) << d.log();
  EXPECT_LT(seconds, 15) << d.log();
}

}  // namespace
}  // namespace vmig::testing
