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

// The model: downtime of one switchover, in milliseconds.
//   parallel: A arcs (source and destination, each a parallel barrier)
//             + max(state / read rate, devices x state / link)
//   serial:   devices x (A arcs + state / min(read rate, link))
// with A = 6 (quiesce, STOP, STOP_COPY; load, RUNNING_P2P, RUNNING), or 5
// for devices with PRE_COPY (PRE_COPY_P2P -> STOP_COPY is one arc).
double ModelDowntimeMs(int devices, double stop_copy_bytes,
                       double read_bytes_per_s, double transition_ms,
                       double link_bytes_per_s, bool serial, bool precopy);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_SWEEP_COMMAND_H_
