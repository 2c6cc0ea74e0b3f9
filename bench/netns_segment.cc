#include "bench/netns_segment.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
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
  return s;
}

NetnsSegment::~NetnsSegment() {
  std::string script;
  for (const std::string& h : hosts_)
    absl::StrAppend(&script, "ip netns del ", Ns(h), " 2>/dev/null; ");
  absl::StrAppend(&script, "ip netns del ", Ns("br"), " 2>/dev/null; true");
  Shell(script);
}

absl::StatusOr<uint64_t> NetnsSegment::SentBytes(
    const std::string& host) const {
  // What the host sent is what its bridge port received.
  std::string out;
  const int rc =
      Shell(absl::StrCat("ip netns exec ", Ns("br"), " cat /sys/class/net/p",
                         Iface(host), "/statistics/rx_bytes"),
            &out);
  uint64_t bytes = 0;
  if (rc != 0 || !absl::SimpleAtoi(absl::StripAsciiWhitespace(out), &bytes))
    return absl::UnavailableError(
        absl::StrCat("cannot read the bridge port of ", host, ": ", out));
  return bytes;
}

}  // namespace vmig::bench
