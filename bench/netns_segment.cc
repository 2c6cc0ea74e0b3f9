#include "bench/netns_segment.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/subprocess.h"

namespace vmig::bench {
namespace {

// Runs a shell script; its exit code and, in `out`, what it printed.
int Shell(const std::string& script, std::string* out = nullptr) {
  char tmpl[] = "/tmp/vmig-netns-XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd < 0) return -1;
  close(fd);
  const pid_t pid = Spawn({"/bin/sh", "-c", script}, {}, tmpl, tmpl);
  const int rc = pid < 0 ? -1 : WaitExit(pid, 60);
  if (out) *out = ReadFileOrEmpty(tmpl);
  unlink(tmpl);
  return rc;
}

}  // namespace

std::string NetnsSegment::Ns(const std::string& host) const {
  return absl::StrCat("vmigE", host, tag_);
}

std::string NetnsSegment::Iface(const std::string& host) const {
  return absl::StrCat("e", host, tag_);
}

std::vector<std::string> NetnsSegment::Prefix(const std::string& host) const {
  return {"/usr/sbin/ip", "netns", "exec", Ns(host)};
}

absl::StatusOr<std::unique_ptr<NetnsSegment>> NetnsSegment::Create(
    const std::vector<std::string>& hosts) {
  if (geteuid() != 0)
    return absl::FailedPreconditionError("needs root for network namespaces");
  std::unique_ptr<NetnsSegment> s(new NetnsSegment());
  s->tag_ = absl::StrCat(getpid() % 100000);
  const std::string br = s->Ns("br");
  std::string script = absl::StrCat("set -e; ip netns add ", br, "; ip -n ", br,
                                    " link add br0 type bridge; ip -n ", br,
                                    " link set br0 mtu 9000 up\n");
  for (const std::string& h : hosts) {
    const std::string ns = s->Ns(h), end = s->Iface(h), port = "p" + end;
    absl::StrAppend(&script, "ip netns add ", ns, "; ip link add ", end,
                    " type veth peer name ", port, "; ip link set ", end,
                    " netns ", ns, "; ip link set ", port, " netns ", br,
                    "; ip -n ", br, " link set ", port,
                    " mtu 9000 master br0 up; ip -n ", ns, " link set ", end,
                    " mtu 9000 up; ip -n ", ns, " link set lo up\n");
  }
  s->hosts_ = hosts;
  std::string out;
  if (Shell(script, &out) != 0)
    return absl::UnavailableError(
        absl::StrCat("cannot make the network namespaces: ", out));
  if (absl::Status st = s->OpenBridgeCounters(); !st.ok()) return st;
  return s;
}

absl::Status NetnsSegment::OpenBridgeCounters() {
  // A thread of its own enters the namespace (the process's other threads
  // stay where they are) and opens its /proc/net/dev, which stays bound to
  // that namespace after the thread has ended.
  const std::string path = "/run/netns/" + Ns("br");
  int fd = -1, err = 0;
  std::thread([&] {
    const int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
      err = errno;
    } else {
      fd = open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC);
      if (fd < 0) err = errno;
    }
    if (ns >= 0) close(ns);
  }).join();
  if (fd < 0)
    return absl::UnavailableError(absl::StrCat(
        "cannot open the bridge's counters (", path, "): ", strerror(err)));
  absl::MutexLock l(&mu_);
  bridge_dev_ = fd;
  return absl::OkStatus();
}

NetnsSegment::~NetnsSegment() {
  {
    absl::MutexLock l(&mu_);
    if (bridge_dev_ >= 0) close(bridge_dev_);
  }
  std::string script;
  for (const std::string& h : hosts_)
    absl::StrAppend(&script, "ip netns del ", Ns(h), " 2>/dev/null; ");
  absl::StrAppend(&script, "ip netns del ", Ns("br"), " 2>/dev/null; true");
  Shell(script);
}

absl::StatusOr<uint64_t> NetnsSegment::SentBytes(
    const std::string& host) const {
  // What the host sent is what its bridge port received: the first
  // figure after "pIFACE:" in /proc/net/dev.
  std::string text;
  {
    absl::MutexLock l(&mu_);
    if (lseek(bridge_dev_, 0, SEEK_SET) != 0)
      return absl::UnavailableError(absl::StrCat(
          "cannot rewind the bridge's counters: ", strerror(errno)));
    char buf[4096];
    for (;;) {
      const ssize_t n = read(bridge_dev_, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return absl::UnavailableError(absl::StrCat(
            "cannot read the bridge's counters: ", strerror(errno)));
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
  }
  const std::string port = absl::StrCat("p", Iface(host));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos ||
        absl::StripAsciiWhitespace(line.substr(0, colon)) != port)
      continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipWhitespace());
    uint64_t bytes = 0;
    if (fields.empty() || !absl::SimpleAtoi(fields[0], &bytes))
      return absl::UnavailableError(
          absl::StrCat("cannot parse the bridge port of ", host, ": ", line));
    return bytes;
  }
  return absl::UnavailableError(
      absl::StrCat("the bridge has no port ", port, " for ", host));
}

}  // namespace vmig::bench
