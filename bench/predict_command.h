// `vmig-bench predict`: the switchover's downtime prediction against the
// downtime measured, over a grid of heterogeneous sessions on a cold pair
// of daemons, with the budget promise checked (docs/benchmarks.md).
#ifndef VMIGD_BENCH_PREDICT_COMMAND_H_
#define VMIGD_BENCH_PREDICT_COMMAND_H_

#include <string>
#include <utility>
#include <vector>

namespace vmig::bench {

int RunPredict(const std::vector<std::string>& args);

// The device classes of predict's grid at `scale` ("small" or "full"): a
// source spec and its destination's ("" for the default), without "emu:".
std::vector<std::pair<std::string, std::string>> PredictGridClasses(
    const std::string& scale);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_PREDICT_COMMAND_H_
