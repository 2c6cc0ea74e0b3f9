// `vmig-bench transport`: a sender and a receiver process over a DPDK port,
// emulated devices on both sides, every digest verified, with memcpy and
// kernel TCP loopback measured in the same run.
#ifndef VMIGD_BENCH_TRANSPORT_COMMAND_H_
#define VMIGD_BENCH_TRANSPORT_COMMAND_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunTransportBench(const std::vector<std::string>& args);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_TRANSPORT_COMMAND_H_
