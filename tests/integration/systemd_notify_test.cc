// What the daemons tell systemd (sd_notify): the test binds the datagram
// socket NOTIFY_SOCKET names, as systemd does for a Type=notify unit, and
// reads what both daemons send: READY=1 once serving, then STATUS= lines
// that follow what they do ("1 session, 1 migrating; link up").
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
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
    ok_ =
        fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  // Reads datagrams until one contains `want` (true) or `seconds` pass.
  bool WaitFor(const std::string& want, double seconds) {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(int(seconds * 1000));
    while (std::chrono::steady_clock::now() < until) {
      timeval tv = {0, 100000};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      seen_.emplace_back(buf, static_cast<size_t>(n));
      if (seen_.back().find(want) != std::string::npos) return true;
    }
    return false;
  }
  std::string Seen() const {
    std::string all;
    for (const auto& s : seen_) all += "[" + s + "] ";
    return all;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
  std::vector<std::string> seen_;
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
  ASSERT_TRUE(Prepare("n1").ok());
  ASSERT_TRUE(Start("n1", kRoomyBudgetMs, /*manual=*/true).ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "n1", {v1::PHASE_READY}).phase(),
            v1::PHASE_READY);
  EXPECT_TRUE(notify.WaitFor("STATUS=1 session, 1 migrating; link up", 10))
      << notify.Seen();
  ASSERT_TRUE(SwitchoverOnSource("n1").ok());
  ASSERT_EQ(WaitEnd(*src_mig_, "n1").phase(), v1::PHASE_COMPLETED);
  EXPECT_TRUE(notify.WaitFor("STATUS=1 session, 0 migrating; link up", 10))
      << notify.Seen();
}

}  // namespace
}  // namespace vmig::testing
