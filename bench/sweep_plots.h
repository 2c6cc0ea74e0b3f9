// The plots of `vmig-bench sweep` (gnuplot): downtime against devices,
// state, dirty rate and workers, with every repetition's spread as error
// bars, the budget as a line, and the fixed parameters in the title.
#ifndef VMIGD_BENCH_SWEEP_PLOTS_H_
#define VMIGD_BENCH_SWEEP_PLOTS_H_

#include <string>
#include <vector>

#include "bench/sweep_point.h"

namespace vmig::bench {

// `fixed`: the parameters every plotted point shares, for the title.
void WritePlots(const std::string& dir, const std::vector<Point>& pts,
                const std::string& fixed);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_SWEEP_PLOTS_H_
