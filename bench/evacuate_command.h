// vmig-bench evacuate: many sessions sharing links between daemons in
// network namespaces (see evacuate_command.cc).
#ifndef VMIGD_BENCH_EVACUATE_COMMAND_H_
#define VMIGD_BENCH_EVACUATE_COMMAND_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunEvacuate(const std::vector<std::string>& args);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_EVACUATE_COMMAND_H_
