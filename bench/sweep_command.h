// `vmig-bench sweep` and `vmig-bench model`: downtime over a grid of real
// migrations between two daemons, the budget table and plots people use to
// decide what a migration will cost, and a calibrated model that projects
// the measurements onto other machines.
#ifndef VMIGD_BENCH_SWEEP_COMMAND_H_
#define VMIGD_BENCH_SWEEP_COMMAND_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunSweep(const std::vector<std::string>& args);
int RunModel(const std::vector<std::string>& args);

// The engine's downtime model (daemon/model/downtime_model.h) for `devices`
// identical devices, in milliseconds.
double ModelDowntimeMs(int devices, double stop_copy_bytes,
                       double read_bytes_per_s, double transition_ms,
                       double link_bytes_per_s, bool serial, bool precopy);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_SWEEP_COMMAND_H_
