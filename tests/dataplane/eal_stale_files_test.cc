// A restarted daemon's EAL never reuses the hugepage files of the instance
// it replaces, even while another process (a memif server that mapped a
// zero-copy client's memory) still holds them open.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "dataplane/eal.h"
#include "gtest/gtest.h"

namespace vmig::dataplane {
namespace {

constexpr size_t kPage = 2u << 20;

// A hugetlbfs mount with room for EAL, or "".
std::string HugetlbfsWithRoom() {
  std::ifstream meminfo("/proc/meminfo");
  long free_pages = 0;
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("HugePages_Free:", 0) == 0)
      free_pages = std::stol(line.substr(15));
  }
  if (free_pages < 300) return "";
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream f(line);
    std::string dev, dir, type;
    if (f >> dev >> dir >> type && type == "hugetlbfs") return dir;
  }
  return "";
}

// A file as a dead instance left it: one huge page, written.
int MakeStaleFile(const std::string& path) {
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, kPage) != 0) return -1;
  void* p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return -1;
  std::memset(p, 0xa5, kPage);
  munmap(p, kPage);
  return fd;
}

TEST(EalStaleFilesTest, ARestartNeverReusesFilesAnotherProcessStillHolds) {
  const std::string mount = HugetlbfsWithRoom();
  if (mount.empty()) GTEST_SKIP() << "no hugetlbfs with 300 free 2 MiB pages";
  const std::string prefix = absl::StrCat("vmig-stale-", getpid());
  const std::string stale = absl::StrCat(mount, "/", prefix, "map_0");
  // The memif server's copy of the dead client's descriptor: open, with
  // the shared lock EAL takes on a file it uses.
  const int held = MakeStaleFile(stale);
  ASSERT_GE(held, 0) << stale << ": " << std::strerror(errno);
  ASSERT_EQ(flock(held, LOCK_SH), 0);

  EalOptions o;
  o.lcores = "0";
  o.file_prefix = prefix;
  o.extra_args = {"--single-file-segments"};  // as a zero-copy client runs
  ASSERT_TRUE(InitEal(o).ok());
  struct stat st = {};
  ASSERT_EQ(fstat(held, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u)
      << "EAL took over the file another process still holds: its memory "
         "would be pages that process maps";
  struct stat fresh = {};
  if (stat(stale.c_str(), &fresh) == 0) {
    EXPECT_NE(fresh.st_ino, st.st_ino) << "the new file is the old one";
  }
  CleanupEal();
  close(held);
}

TEST(EalStaleFilesTest, ALiveInstancesFilesAreLeftAlone) {
  const std::string mount = HugetlbfsWithRoom();
  if (mount.empty()) GTEST_SKIP() << "no hugetlbfs with 300 free 2 MiB pages";
  const std::string prefix = absl::StrCat("vmig-live-", getpid());
  const std::string dir = RuntimeDirOf(prefix);
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/config";
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  // The live instance: holds EAL's write lock on its config, as a primary
  // does for its life.
  const pid_t live = fork();
  ASSERT_GE(live, 0);
  if (live == 0) {
    const int fd = open(config.c_str(), O_CREAT | O_RDWR, 0600);
    struct flock lk = {};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    const char ok = fd >= 0 && fcntl(fd, F_SETLK, &lk) == 0 ? 'y' : 'n';
    (void)!write(pipe_fds[1], &ok, 1);
    pause();
    _exit(0);
  }
  char ok = 0;
  ASSERT_EQ(read(pipe_fds[0], &ok, 1), 1);
  ASSERT_EQ(ok, 'y');
  const std::string file = absl::StrCat(mount, "/", prefix, "map_0");
  const int fd = MakeStaleFile(file);
  ASSERT_GE(fd, 0);
  close(fd);

  EXPECT_EQ(RemoveDeadInstanceHugepageFiles(prefix), 0);
  EXPECT_TRUE(std::filesystem::exists(file)) << "a live instance's file went";

  kill(live, SIGKILL);
  waitpid(live, nullptr, 0);
  EXPECT_EQ(RemoveDeadInstanceHugepageFiles(prefix), 1) << "once it is dead";
  EXPECT_FALSE(std::filesystem::exists(file));
  std::filesystem::remove_all(dir);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace vmig::dataplane
