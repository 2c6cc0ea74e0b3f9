// One side of `vmig-bench transport`: a process with a DPDK port that either
// streams emulated source devices (STOP_COPY) or receives into emulated
// RESUMING devices, then reports "key value" lines on stdout.
#ifndef VMIGD_BENCH_TRANSPORT_NODE_H_
#define VMIGD_BENCH_TRANSPORT_NODE_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunTransportNode(const std::vector<std::string>& args);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_TRANSPORT_NODE_H_
