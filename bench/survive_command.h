// vmig-bench survive: either daemon of a memif pair killed at random points
// of migrations, many times; the survivor must live (see survive_command.cc).
#ifndef VMIGD_BENCH_SURVIVE_COMMAND_H_
#define VMIGD_BENCH_SURVIVE_COMMAND_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunSurvive(const std::vector<std::string>& args);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_SURVIVE_COMMAND_H_
