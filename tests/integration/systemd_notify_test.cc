// What the daemons tell systemd (sd_notify): the test binds the datagram
// socket NOTIFY_SOCKET names, as systemd does for a Type=notify unit, and
// reads what both daemons send: READY=1 once serving, then STATUS= lines
// that follow what they do ("1 session, 1 migrating; link up").
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/migration_fixture.h"

namespace vmig::testing {
namespace {

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof(a.sun_path) - 1);
    // As systemd does: each datagram carries its sender's pid.
    const int one = 1;
    ok_ = fd_ >= 0 &&
          setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0 &&
          bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  // Reads datagrams until one contains `want` (true) or `seconds` pass.
  bool WaitFor(const std::string& want, double seconds, pid_t from = 0) {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(int(seconds * 1000));
    while (std::chrono::steady_clock::now() < until) {
      if (!Receive()) continue;
      if ((from == 0 || seen_.back().first == from) &&
          seen_.back().second.find(want) != std::string::npos)
        return true;
    }
    return false;
  }
  // How many datagrams from `from` containing `want` come in `seconds`.
  int Count(const std::string& want, double seconds, pid_t from) {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(int(seconds * 1000));
    int n = 0;
    while (std::chrono::steady_clock::now() < until) {
      if (Receive() && seen_.back().first == from &&
          seen_.back().second.find(want) != std::string::npos)
        ++n;
    }
    return n;
  }
  std::string Seen() const {
    std::string all;
    for (const auto& [pid, s] : seen_)
      all += "[" + std::to_string(pid) + ": " + s + "] ";
    return all;
  }

 private:
  // One datagram (waiting at most 100 ms) into seen_; false if none.
  bool Receive() {
    timeval tv = {0, 100000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    iovec iov = {buf, sizeof(buf)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    const ssize_t n = recvmsg(fd_, &m, 0);
    if (n <= 0) return false;
    pid_t pid = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        pid = cred.pid;
      }
    }
    seen_.emplace_back(pid, std::string(buf, static_cast<size_t>(n)));
    return true;
  }

  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
  std::vector<std::pair<pid_t, std::string>> seen_;
};

TEST_F(MigrationTest, SystemdHearsReadinessAndAStatusThatFollowsTheSessions) {
  NotifySocket notify(dir_.path() + "/notify.sock");
  ASSERT_TRUE(notify.ok());
  daemon_env_["NOTIFY_SOCKET"] = dir_.path() + "/notify.sock";
  StartDaemons({{"nic0", "emu:state=8MiB,flags=stop_copy|p2p|pre_copy,seed=1",
                 "emu:state=8MiB,flags=stop_copy|p2p|pre_copy"}});
  EXPECT_TRUE(notify.WaitFor("READY=1", 10)) << notify.Seen();
  EXPECT_TRUE(notify.WaitFor("0 sessions, 0 migrating; link up", 10))
      << notify.Seen();
  ASSERT_NO_FATAL_FAILURE(StartManualUntilReady("n1"));
  EXPECT_TRUE(notify.WaitFor("STATUS=1 session, 1 migrating; link up", 10))
      << notify.Seen();
  ASSERT_TRUE(SwitchoverOnSource("n1").ok());
  ASSERT_EQ(WaitEnd(*src_mig_, "n1").phase(), v1::PHASE_COMPLETED);
  EXPECT_TRUE(notify.WaitFor("STATUS=1 session, 0 migrating; link up", 10))
      << notify.Seen();
}

// The watchdog vouches for the workers, not only for the main loop: pings
// flow while the daemon is well, and stop (with STATUS= and the log saying
// which worker) once a data-plane worker hangs mid-migration, so that
// systemd restarts the daemon.
TEST_F(MigrationTest, TheWatchdogStopsVouchingWhenAWorkerHangs) {
  NotifySocket notify(dir_.path() + "/notify.sock");
  ASSERT_TRUE(notify.ok());
  daemon_env_["NOTIFY_SOCKET"] = dir_.path() + "/notify.sock";
  daemon_env_["WATCHDOG_USEC"] = "3000000";  // stall bound: 2 s
  const std::string d = dir_.path();
  src_dataplane_ =
      "dataplane { lcores: \"1\" main_lcore: 0 "
      "inject_faults { hang_worker_after_frames: 300 } "
      "ports { name: \"p\" memif: \"role=server,socket=" +
      d + "/memif.sock,socket-abstract=no\" ipv4: \"169.254.77.1\" } }\n";
  StartDaemons({{"nic0", "emu:state=16MiB,flags=stop_copy|p2p|pre_copy,seed=1",
                 "emu:state=16MiB,flags=stop_copy|p2p|pre_copy"}});
  const pid_t src = source_->pid();
  EXPECT_TRUE(notify.WaitFor("WATCHDOG=1", 10, src)) << notify.Seen();
  ASSERT_TRUE(Prepare("w1").ok());
  ASSERT_TRUE(Start("w1", kRoomyBudgetMs, /*manual=*/true).ok());
  // 16 MiB is far more than 300 frames: the source's worker hangs in
  // pre-copy.
  EXPECT_TRUE(notify.WaitFor(
      "STATUS=unwell: worker 0 of port p made no progress", 20, src))
      << notify.Seen();
  EXPECT_EQ(notify.Count("WATCHDOG=1", 3, src), 0) << notify.Seen();
  // The destination, whose workers are well, still vouches for itself.
  EXPECT_GT(notify.Count("WATCHDOG=1", 3, dest_->pid()), 0) << notify.Seen();
  EXPECT_NE(source_->log().find("watchdog: not vouching for the daemon: "
                                "worker 0 of port p made no progress"),
            std::string::npos)
      << source_->log();
}

}  // namespace
}  // namespace vmig::testing
