// `vmig-bench downtime`: whole migrations between two daemons, measuring
// the downtime of the parallel lockstep schedule against its critical-path
// lower bound and against the serial schedule, in one run.
#ifndef VMIGD_BENCH_DOWNTIME_COMMAND_H_
#define VMIGD_BENCH_DOWNTIME_COMMAND_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunDowntimeBench(const std::vector<std::string>& args);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_DOWNTIME_COMMAND_H_
