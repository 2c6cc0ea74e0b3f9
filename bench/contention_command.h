// vmig-bench contention: the transport with and without a CPU hog (see
// contention_command.cc).
#ifndef VMIGD_BENCH_CONTENTION_COMMAND_H_
#define VMIGD_BENCH_CONTENTION_COMMAND_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunContention(const std::vector<std::string>& args);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_CONTENTION_COMMAND_H_
