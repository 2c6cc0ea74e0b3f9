// What `vmig-bench sweep` writes: the calibrated model's fit, the table on
// the terminal, sweep.csv and sweep.json (full precision, with provenance),
// and the budget table found by search.
#ifndef VMIGD_BENCH_SWEEP_OUTPUT_H_
#define VMIGD_BENCH_SWEEP_OUTPUT_H_

#include <string>
#include <vector>

#include "bench/sweep_point.h"
#include "nlohmann/json.hpp"

namespace vmig::bench {

// The model's one free parameter, the data plane's rate, fitted on the
// verified parallel points without PRE_COPY whose transfer the link bounds
// (the points the model can explain), each giving a rate; the median is
// the fit, and `residual` the mean |model - p50| / p50 over them. An empty
// `refused` means the fit stands.
struct ModelFit {
  double link = 0;  // bytes/s
  int points = 0;
  double residual = 0;
  std::string refused;
};

// Fits, and sets every verified point's model_ms when the fit stands.
ModelFit FitModel(std::vector<Point>& pts);

void WriteSweep(const std::string& dir, const std::vector<Point>& pts,
                const ModelFit& fit, int repeat,
                const nlohmann::json& provenance);

// Per (budget, workers, read rate, arcs, devices, dirty): the largest state
// per device whose p95 held the budget, searched over the grid's states;
// "beyond the grid" when even the largest held, "none" when the smallest
// did not.
void WriteBudgetTable(const std::string& dir, const std::vector<Point>& pts);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_SWEEP_OUTPUT_H_
