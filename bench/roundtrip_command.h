// `vmig-bench roundtrip`: one emulated device migrated into another in one
// process, through PRE_COPY, STOP_COPY, load and resume, verified by digest.
#ifndef VMIGD_BENCH_ROUNDTRIP_COMMAND_H_
#define VMIGD_BENCH_ROUNDTRIP_COMMAND_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunRoundtrip(const std::vector<std::string>& args);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_ROUNDTRIP_COMMAND_H_
