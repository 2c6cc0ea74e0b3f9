// The journal's sync policy against a power loss at every point: this test
// binary stands in front of fdatasync and fsync and keeps the disk's view
// of the journal's directory. A file's content is on "disk" as of its last
// fdatasync; a directory's names (and the files they point to) as of its
// last fsync. After each call into the journal the test builds the image a
// power loss would leave, opens a journal on it, and checks that every
// commit mark the journal acknowledged as durable is there.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "daemon/journal.h"
#include "gtest/gtest.h"
#include "tests/integration/process.h"

namespace {

// The disk's view of the watched directory.
struct Disk {
  std::mutex mu;
  std::string dir;                       // watched; empty: none
  std::map<ino_t, std::string> content;  // as of each file's last sync
  std::map<std::string, ino_t> names;    // as of the directory's sync
} g_disk;

std::string PathOf(int fd) {
  char buf[4096];
  const ssize_t n =
      readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// The whole file behind `fd` (which the journal opened write-only), in
// one read: a durable mark copies the whole journal (up to a compaction's
// 4096 records), and a character at a time made the test take 82 s under
// ASan.
std::string ReadAllOf(int fd) {
  const int in =
      open(absl::StrCat("/proc/self/fd/", fd).c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return {};
  std::string all;
  struct stat st;
  if (fstat(in, &st) == 0 && st.st_size > 0) {
    all.resize(static_cast<size_t>(st.st_size));
    const ssize_t n = pread(in, all.data(), all.size(), 0);
    all.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  close(in);
  return all;
}

// A sync of `fd`: a file's content, or a directory's names, reach the disk.
void Synced(int fd) {
  std::lock_guard<std::mutex> lock(g_disk.mu);
  if (g_disk.dir.empty()) return;
  const std::string path = PathOf(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (path != g_disk.dir) return;
    g_disk.names.clear();
    for (const auto& e : std::filesystem::directory_iterator(path)) {
      struct stat f;
      if (stat(e.path().c_str(), &f) == 0)
        g_disk.names[e.path().filename().string()] = f.st_ino;
    }
    return;
  }
  if (path.rfind(g_disk.dir + "/", 0) != 0) return;
  g_disk.content[st.st_ino] = ReadAllOf(fd);
}

}  // namespace

// The journal's calls land here (the executable's definitions come first).
extern "C" int fdatasync(int fd) {
  Synced(fd);
  return static_cast<int>(syscall(SYS_fdatasync, fd));
}
extern "C" int fsync(int fd) {
  Synced(fd);
  return static_cast<int>(syscall(SYS_fsync, fd));
}

namespace vmig::daemon {
namespace {

// What the watched directory holds after a power loss now, written to
// `to`: the names its last sync knew, each with its file's synced content.
void PowerLossImage(const std::string& to) {
  std::filesystem::create_directories(to);
  std::lock_guard<std::mutex> lock(g_disk.mu);
  for (const auto& [name, ino] : g_disk.names) {
    auto it = g_disk.content.find(ino);
    std::ofstream(to + "/" + name, std::ios::binary)
        << (it == g_disk.content.end() ? std::string() : it->second);
  }
}

v1::JournalSession Session(const std::string& id, v1::Phase phase,
                           v1::JournalSession::Commit commit) {
  v1::JournalSession s;
  s.set_id(id);
  s.set_role(id[0] == 'd' ? v1::ROLE_DESTINATION : v1::ROLE_SOURCE);
  s.set_phase(phase);
  s.set_commit(commit);
  s.add_devices("nic0");
  return s;
}

// A busy daemon's history: sessions that go through their phases (plain
// records) and take commit marks (durable), enough records for two
// compactions. After every durable mark, and every 97th record besides,
// the power goes: each mark acknowledged by then must be in the image.
TEST(JournalPowerLossTest, EveryAcknowledgedCommitMarkSurvivesAPowerLoss) {
  vmig::testing::TempDir tmp;
  const std::string dir = tmp.path() + "/state";
  std::filesystem::create_directories(dir);
  {
    std::lock_guard<std::mutex> lock(g_disk.mu);
    g_disk.dir = std::filesystem::canonical(dir).string();
  }
  auto j = Journal::Open(dir);
  ASSERT_TRUE(j.ok()) << j.status();
  std::map<std::string, v1::JournalSession::Commit> acknowledged;
  int images = 0, records = 0;
  auto check = [&](const std::string& when) {
    const std::string image = absl::StrCat(tmp.path(), "/image", ++images);
    PowerLossImage(image);
    auto back = Journal::Open(image);
    ASSERT_TRUE(back.ok()) << when << ": " << back.status();
    for (const auto& [id, mark] : acknowledged) {
      const auto& s = (*back)->recovered().sessions;
      ASSERT_TRUE(s.count(id)) << when << ": session " << id << " lost";
      EXPECT_EQ(s.at(id).commit(), mark) << when << ": session " << id;
    }
    std::filesystem::remove_all(image);
  };
  check("after the open");
  const v1::Phase phases[] = {v1::PHASE_PRECOPY, v1::PHASE_READY,
                              v1::PHASE_SWITCHOVER, v1::PHASE_STOPCOPY};
  // Two compactions' worth of records (each is kCompactAfter, 4096).
  for (int n = 0; n < 2 * 4096 / 10 + 50; ++n) {
    // A source and a destination session each round.
    for (const std::string& id : {absl::StrCat("s", n), absl::StrCat("d", n)}) {
      for (v1::Phase p : phases) {
        ASSERT_TRUE(
            (*j)->SessionChanged(
                    Session(id, p, v1::JournalSession::COMMIT_UNSPECIFIED),
                    false)
                .ok());
        if (++records % 97 == 0) check(absl::StrCat("record ", records));
      }
      const auto mark = id[0] == 'd' && n % 5 == 0
                            ? v1::JournalSession::COMMIT_ABORTED
                            : v1::JournalSession::COMMIT_BEGUN;
      ASSERT_TRUE(
          (*j)->SessionChanged(Session(id, v1::PHASE_STOPCOPY, mark), true)
              .ok());
      ++records;
      acknowledged[id] = mark;
      if (n % 20 == 0) check(absl::StrCat("the mark of ", id, " round ", n));
    }
  }
  check("the end");
  std::lock_guard<std::mutex> lock(g_disk.mu);
  g_disk.dir.clear();
}

}  // namespace
}  // namespace vmig::daemon
