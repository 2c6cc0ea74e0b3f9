#include "dataplane/memif_socket.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmig::dataplane {
namespace {

// The value of `key` in "k=v,k=v" arguments, or `fallback`.
std::string Arg(absl::string_view args, absl::string_view key,
                absl::string_view fallback) {
  for (absl::string_view kv : absl::StrSplit(args, ',')) {
    std::vector<absl::string_view> p =
        absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.size() == 2 && p[0] == key) return std::string(p[1]);
  }
  return std::string(fallback);
}

// Whether a socket listens on `path` (an abstract name without its NUL
// when `abstract`), read from /proc/net/unix. Never by connecting: DPDK
// 22.11's memif server panics its interrupt thread when a peer connects
// and hangs up at once.
bool Listening(const std::string& path, bool abstract) {
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);  // the header
  const std::string want = abstract ? "@" + path : path;
  while (std::getline(in, line)) {
    // Num RefCount Protocol Flags Type St Inode Path
    std::vector<absl::string_view> f =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 8 || f[7] != want) continue;
    unsigned long flags = 0;
    if (!absl::SimpleHexAtoi(f[3], &flags)) continue;
    if (flags & 0x10000) return true;  // __SO_ACCEPTCON: listening
  }
  return false;
}

}  // namespace

bool MemifSocketServed(absl::string_view args) {
  return Listening(MemifSocketPath(args),
                   Arg(args, "socket-abstract", "yes") != "no");
}

bool MemifRoleIsClient(absl::string_view args) {
  const std::string role = Arg(args, "role", "server");
  return role == "client" || role == "slave";
}

bool MemifZeroCopy(absl::string_view args) {
  return Arg(args, "zero-copy", "no") == "yes";
}

std::string MemifSocketPath(absl::string_view args) {
  return Arg(args, "socket", "/run/memif.sock");
}

absl::Status RemoveStaleMemifSocket(absl::string_view args) {
  if (Arg(args, "socket-abstract", "yes") != "no") return absl::OkStatus();
  const std::string path = MemifSocketPath(args);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
    return absl::OkStatus();
  if (Listening(path, false)) {
    return absl::FailedPreconditionError(
        absl::StrCat("memif socket ", path,
                     " is served by another live process (two memif servers "
                     "on one socket?)"));
  }
  // Nobody listens: a previous server died without unlinking it.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return absl::ErrnoToStatus(errno, absl::StrCat("unlink ", path));
  return absl::OkStatus();
}

}  // namespace vmig::dataplane
