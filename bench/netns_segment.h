// Hosts on one Ethernet segment for benchmarks across "hosts": a network
// namespace per host, each joined by a veth pair (9000-byte MTU) to a
// learning bridge in a namespace of its own. The bridge port of each host
// counts what that host put on the wire, which is how a benchmark measures
// a rate without trusting the daemon's own counters. Removed with the
// object. Needs root and iproute2.
#ifndef VMIGD_BENCH_NETNS_SEGMENT_H_
#define VMIGD_BENCH_NETNS_SEGMENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace vmig::bench {

class NetnsSegment {
 public:
  // Hosts named `hosts` (short, [a-z0-9]).
  static absl::StatusOr<std::unique_ptr<NetnsSegment>> Create(
      const std::vector<std::string>& hosts);
  ~NetnsSegment();
  NetnsSegment(const NetnsSegment&) = delete;
  NetnsSegment& operator=(const NetnsSegment&) = delete;

  // The command a process on `host` runs under ("ip netns exec NS").
  std::vector<std::string> Prefix(const std::string& host) const;
  // `host`'s interface on the segment.
  std::string Iface(const std::string& host) const;
  // Bytes `host` has sent onto the segment so far (its bridge port's
  // received bytes), or an error. Read from the bridge namespace's
  // /proc/net/dev, opened once: tens of microseconds, and no process
  // started (`ip netns exec ... cat` took over 50 ms on a loaded 2-core
  // guest often enough that a CI run had no sample left to judge a cap by).
  absl::StatusOr<uint64_t> SentBytes(const std::string& host) const;

 private:
  NetnsSegment() = default;
  std::string Ns(const std::string& host) const;
  // Opens the bridge namespace's /proc/net/dev into bridge_dev_.
  absl::Status OpenBridgeCounters();
  std::string tag_;
  std::vector<std::string> hosts_;
  mutable absl::Mutex mu_;
  // A seq file bound to the bridge's namespace at open: each read from its
  // start lists that namespace's interfaces afresh.
  int bridge_dev_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_NETNS_SEGMENT_H_
