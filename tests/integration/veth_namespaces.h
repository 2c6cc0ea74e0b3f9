// Two network namespaces joined by a veth pair (jumbo MTU), for daemons
// that talk over af_packet as on two hosts; removed with the object. Needs
// root and iproute2: ok() says whether they were made.
#ifndef VMIGD_TESTS_INTEGRATION_VETH_NAMESPACES_H_
#define VMIGD_TESTS_INTEGRATION_VETH_NAMESPACES_H_

#include <unistd.h>

#include <string>
#include <vector>

#include "tests/integration/process.h"

namespace vmig::testing {

class VethNamespaces {
 public:
  VethNamespaces() {
    CommandResult ip = RunCommand({"/bin/sh", "-c", "command -v ip"});
    if (geteuid() != 0 || ip.exit_code != 0) {
      why_not_ = "needs root and iproute2 for network namespaces";
      return;
    }
    ip_ = ip.out.substr(0, ip.out.find_last_not_of("\n") + 1);
    const std::string tag =
        std::to_string(getpid()) + "x" + std::to_string(++Counter());
    ns_a_ = "vmigNA" + tag;
    ns_b_ = "vmigNB" + tag;
    va_ = "va" + tag;
    vb_ = "vb" + tag;
    CommandResult r = RunCommand(
        {"/bin/sh", "-c",
         "set -e; ip netns add " + ns_a_ + "; ip netns add " + ns_b_ +
             "; ip link add " + va_ + " type veth peer name " + vb_ +
             "; ip link set " + va_ + " netns " + ns_a_ + "; ip link set " +
             vb_ + " netns " + ns_b_ + "; ip -n " + ns_a_ + " link set " + va_ +
             " mtu 9000 up; ip -n " + ns_b_ + " link set " + vb_ +
             " mtu 9000 up"});
    if (r.exit_code != 0) {
      why_not_ = "cannot make network namespaces: " + r.err;
      Remove();
      return;
    }
    ok_ = true;
  }
  ~VethNamespaces() { Remove(); }
  VethNamespaces(const VethNamespaces&) = delete;
  VethNamespaces& operator=(const VethNamespaces&) = delete;

  bool ok() const { return ok_; }
  // Takes side B's interface down or up: the data plane alone partitioned
  // (the daemons' control channel is a Unix socket).
  bool SetLinkB(bool up) const {
    return RunCommand(
               {ip_, "-n", ns_b_, "link", "set", vb_, up ? "up" : "down"})
               .exit_code == 0;
  }
  const std::string& why_not() const { return why_not_; }
  // The command a daemon of side A or B runs under.
  std::vector<std::string> PrefixA() const {
    return {ip_, "netns", "exec", ns_a_};
  }
  std::vector<std::string> PrefixB() const {
    return {ip_, "netns", "exec", ns_b_};
  }
  // A dataplane {} section with one af_packet port "p" on side A or B.
  std::string DataplaneA() const {
    return Dataplane("1", "0", va_, "169.254.77.1");
  }
  std::string DataplaneB() const {
    return Dataplane("0", "1", vb_, "169.254.77.2");
  }

 private:
  static int& Counter() {
    static int n = 0;
    return n;
  }
  static std::string Dataplane(const std::string& lcores,
                               const std::string& main_lcore,
                               const std::string& iface,
                               const std::string& ipv4) {
    return "dataplane { lcores: \"" + lcores + "\" main_lcore: " + main_lcore +
           " ports { name: \"p\" af_packet: \"" + iface + "\" ipv4: \"" + ipv4 +
           "\" } }\n";
  }
  void Remove() {
    if (ns_a_.empty()) return;
    (void)RunCommand({"/bin/sh", "-c",
                      "ip netns del " + ns_a_ + " 2>/dev/null; ip netns del " +
                          ns_b_ + " 2>/dev/null; true"});
    ns_a_.clear();
  }

  bool ok_ = false;
  std::string why_not_, ip_, ns_a_, ns_b_, va_, vb_;
};

}  // namespace vmig::testing

#endif  // VMIGD_TESTS_INTEGRATION_VETH_NAMESPACES_H_
