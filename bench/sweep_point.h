// One point of `vmig-bench sweep`: its setup, and what its repeated
// migrations measured (every sample kept, so that a table can say p50, p95
// and max rather than one lucky run).
#ifndef VMIGD_BENCH_SWEEP_POINT_H_
#define VMIGD_BENCH_SWEEP_POINT_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace vmig::bench {

// The p-quantile (0..1) of `v`, interpolated; 0 when empty.
inline double Quantile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(idx));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

struct Point {
  int devices = 0;
  uint64_t state = 0;
  double dirty = 0;
  double read_bw = 0, transition_ms = 0, budget_ms = 0;
  int workers = 1;
  bool serial = false;
  // The first value of every dimension beyond devices, state and dirty
  // (base_setup: all but workers): plots and the model's check compare like
  // with like.
  bool base = false, base_setup = false;
  // Every repetition's downtime and the engine's prediction for it.
  std::vector<double> downtimes_ms, predictions_ms;
  // The median repetition's phases; totals over the repetitions.
  double quiesce_ms = 0, transfer_ms = 0, load_ms = 0, resume_ms = 0,
         total_s = 0, cpu_s = 0, stop_copy_bytes = 0;
  uint64_t bytes = 0;
  uint32_t precopy_rounds = 0;
  uint64_t retransmits = 0;
  bool verified = false;  // every repetition
  double model_ms = 0;

  double p50() const { return Quantile(downtimes_ms, 0.5); }
  double p95() const { return Quantile(downtimes_ms, 0.95); }
  double max() const {
    return downtimes_ms.empty()
               ? 0
               : *std::max_element(downtimes_ms.begin(), downtimes_ms.end());
  }
  double min() const {
    return downtimes_ms.empty()
               ? 0
               : *std::min_element(downtimes_ms.begin(), downtimes_ms.end());
  }
  // The engine's prediction against the downtime, per repetition: the
  // median of |predicted - measured| / measured.
  double prediction_error() const {
    std::vector<double> e;
    for (size_t i = 0; i < downtimes_ms.size() && i < predictions_ms.size();
         ++i) {
      if (downtimes_ms[i] > 0)
        e.push_back(std::fabs(predictions_ms[i] - downtimes_ms[i]) /
                    downtimes_ms[i]);
    }
    return Quantile(e, 0.5);
  }
  // Verified, and its p95 within the budget: what a person can sign.
  bool ok() const { return verified && p95() <= budget_ms; }
};

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_SWEEP_POINT_H_
