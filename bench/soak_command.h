// vmig-bench soak: migrations back to back under random faults (see
// soak_command.cc).
#ifndef VMIGD_BENCH_SOAK_COMMAND_H_
#define VMIGD_BENCH_SOAK_COMMAND_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunSoak(const std::vector<std::string>& args);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_SOAK_COMMAND_H_
