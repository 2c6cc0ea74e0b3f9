// Three hosts on one Ethernet segment, as an attacker on the data network
// sees it: network namespaces A (source), B (destination) and O (an
// observer), each joined by a veth pair (jumbo MTU) to a bridge in a fourth
// namespace that never learns addresses, so that it floods every frame,
// unicast included, to every port. Removed with the object. Needs root and
// iproute2: ok() says whether they were made.
#ifndef VMIGD_TESTS_INTEGRATION_BRIDGED_NAMESPACES_H_
#define VMIGD_TESTS_INTEGRATION_BRIDGED_NAMESPACES_H_

#include <unistd.h>

#include <string>
#include <vector>

#include "tests/integration/process.h"

namespace vmig::testing {

class BridgedNamespaces {
 public:
  BridgedNamespaces() {
    CommandResult ip = RunCommand({"/bin/sh", "-c", "command -v ip"});
    if (geteuid() != 0 || ip.exit_code != 0) {
      why_not_ = "needs root and iproute2 for network namespaces";
      return;
    }
    ip_ = ip.out.substr(0, ip.out.find_last_not_of("\n") + 1);
    tag_ = std::to_string(getpid());
    std::string script = "set -e; ip netns add " + Ns("S") + "; ip -n " +
                         Ns("S") +
                         " link add br0 type bridge ageing_time 0; ip -n " +
                         Ns("S") + " link set br0 mtu 9000 up\n";
    for (const char* h : {"A", "B", "O"}) {
      const std::string host = Ns(h), end = Iface(h), port = "p" + end;
      script += "ip netns add " + host + "; ip link add " + end +
                " type veth peer name " + port + "; ip link set " + end +
                " netns " + host + "; ip link set " + port + " netns " +
                Ns("S") + "; ip -n " + Ns("S") + " link set " + port +
                " mtu 9000 master br0 up; ip -n " + Ns("S") + " link set dev " +
                port + " type bridge_slave learning off flood on; ip -n " +
                host + " link set " + end + " mtu 9000 up\n";
    }
    CommandResult r = RunCommand({"/bin/sh", "-c", script});
    if (r.exit_code != 0) {
      why_not_ = "cannot make the bridged namespaces: " + r.err;
      Remove();
      return;
    }
    ok_ = true;
  }
  ~BridgedNamespaces() { Remove(); }
  BridgedNamespaces(const BridgedNamespaces&) = delete;
  BridgedNamespaces& operator=(const BridgedNamespaces&) = delete;

  bool ok() const { return ok_; }
  const std::string& why_not() const { return why_not_; }
  // The command a process on host "A", "B" or "O" runs under.
  std::vector<std::string> Prefix(const std::string& host) const {
    return {ip_, "netns", "exec", Ns(host)};
  }
  // Host `host`'s interface on the segment.
  std::string Iface(const std::string& host) const { return "v" + host + tag_; }
  // A dataplane {} section with one af_packet port "p" on A or B.
  std::string Dataplane(const std::string& host) const {
    const bool a = host == "A";
    return std::string("dataplane { lcores: \"") + (a ? "1" : "0") +
           "\" main_lcore: " + (a ? "0" : "1") +
           " ports { name: \"p\" af_packet: \"" + Iface(host) + "\" ipv4: \"" +
           (a ? "169.254.77.1" : "169.254.77.2") + "\" } }\n";
  }

 private:
  std::string Ns(const std::string& host) const {
    return "vmigT" + host + tag_;
  }
  void Remove() {
    if (tag_.empty()) return;
    std::string script;
    for (const char* h : {"A", "B", "O", "S"})
      script += "ip netns del " + Ns(h) + " 2>/dev/null; ";
    (void)RunCommand({"/bin/sh", "-c", script + "true"});
    tag_.clear();
  }

  bool ok_ = false;
  std::string why_not_, ip_, tag_;
};

}  // namespace vmig::testing

#endif  // VMIGD_TESTS_INTEGRATION_BRIDGED_NAMESPACES_H_
