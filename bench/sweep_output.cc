#include "bench/sweep_output.h"

#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_format.h"
#include "bench/sweep_command.h"
#include "common/units.h"

namespace vmig::bench {
namespace {

// A fitted rate past this on one machine's data plane is a fit gone wrong
// (a transfer time near zero), not a measurement.
constexpr double kAbsurdLink = 100e9;

}  // namespace

ModelFit FitModel(std::vector<Point>& pts) {
  ModelFit fit;
  std::vector<double> rates;
  std::vector<const Point*> used;
  for (const Point& p : pts) {
    // Without PRE_COPY all state moves in stop-copy, and only a transfer
    // longer than the devices' own reads is the link's.
    if (p.serial || !p.verified || p.dirty > 0 || !p.base_setup) continue;
    const double total = p.stop_copy_bytes * p.devices;
    const double xfer_s = (p.transfer_ms - 2 * p.transition_ms) / 1e3;
    if (xfer_s <= 0 || total <= 0) continue;
    if (p.stop_copy_bytes / p.read_bw > 0.8 * xfer_s) continue;  // read-bound
    rates.push_back(total / xfer_s);
    used.push_back(&p);
  }
  if (rates.size() < 2) {
    fit.refused = absl::StrFormat(
        "%d point(s) where the link bounds the transfer; at least 2 are "
        "needed (parallel, dirty 0, verified, not read-bound)",
        static_cast<int>(rates.size()));
    return fit;
  }
  fit.link = Quantile(rates, 0.5);
  fit.points = static_cast<int>(rates.size());
  if (!(fit.link > 0) || fit.link > kAbsurdLink) {
    fit.refused =
        absl::StrFormat("fitted rate %s is absurd", FormatRate(fit.link));
    fit.link = 0;
    return fit;
  }
  double err = 0;
  for (Point& p : pts) {
    if (!p.verified) continue;
    p.model_ms =
        ModelDowntimeMs(p.devices, p.stop_copy_bytes, p.read_bw,
                        p.transition_ms, fit.link, p.serial, p.dirty > 0);
  }
  for (const Point* p : used)
    err += std::fabs(p->model_ms - p->p50()) / p->p50();
  fit.residual = err / static_cast<double>(used.size());
  return fit;
}

void WriteSweep(const std::string& dir, const std::vector<Point>& pts,
                const ModelFit& fit, int repeat,
                const nlohmann::json& provenance) {
  std::ofstream csv(dir + "/sweep.csv");
  csv.precision(std::numeric_limits<double>::max_digits10);
  csv << "devices,state_bytes,dirty_bytes_per_s,read_bytes_per_s,transition_"
         "ms,budget_ms,workers,schedule,repeat,downtime_p50_ms,downtime_p95_"
         "ms,downtime_max_ms,predicted_p50_ms,prediction_error,model_ms,"
         "quiesce_ms,stop_copy_ms,load_ms,resume_ms,total_s,cpu_s,bytes,"
         "stop_copy_bytes_per_device,precopy_rounds,retransmits,within_"
         "budget,verified\n";
  nlohmann::json j;
  j["provenance"] = provenance;
  j["repeat"] = repeat;
  j["model"] = {{"link_bytes_per_s", fit.link},
                {"points", fit.points},
                {"mean_abs_residual", fit.residual},
                {"refused", fit.refused}};
  std::vector<double> errors;
  std::printf(
      "\n%7s %9s %10s %11s %5s %6s %2s %8s %8s %8s %8s %9s %6s %8s %4s\n",
      "devices", "state", "dirty", "read", "arc", "budget", "wk", "schedule",
      "p50", "p95", "max", "predicted", "error", "model", "ok");
  for (const Point& p : pts) {
    const double pred = Quantile(p.predictions_ms, 0.5);
    if (p.verified) errors.push_back(p.prediction_error());
    csv << p.devices << "," << p.state << "," << p.dirty << "," << p.read_bw
        << "," << p.transition_ms << "," << p.budget_ms << "," << p.workers
        << "," << (p.serial ? "serial" : "parallel") << ","
        << p.downtimes_ms.size() << "," << p.p50() << "," << p.p95() << ","
        << p.max() << "," << pred << "," << p.prediction_error() << ","
        << p.model_ms << "," << p.quiesce_ms << "," << p.transfer_ms << ","
        << p.load_ms << "," << p.resume_ms << "," << p.total_s << "," << p.cpu_s
        << "," << p.bytes << "," << p.stop_copy_bytes << "," << p.precopy_rounds
        << "," << p.retransmits << "," << (p.ok() ? "true" : "false") << ","
        << (p.verified ? "true" : "false") << "\n";
    j["points"].push_back({{"devices", p.devices},
                           {"state_bytes", p.state},
                           {"dirty_bytes_per_s", p.dirty},
                           {"read_bytes_per_s", p.read_bw},
                           {"transition_ms", p.transition_ms},
                           {"budget_ms", p.budget_ms},
                           {"workers", p.workers},
                           {"schedule", p.serial ? "serial" : "parallel"},
                           {"downtimes_ms", p.downtimes_ms},
                           {"predictions_ms", p.predictions_ms},
                           {"downtime_p50_ms", p.p50()},
                           {"downtime_p95_ms", p.p95()},
                           {"downtime_max_ms", p.max()},
                           {"prediction_error", p.prediction_error()},
                           {"model_ms", p.model_ms},
                           {"quiesce_ms", p.quiesce_ms},
                           {"stop_copy_ms", p.transfer_ms},
                           {"load_ms", p.load_ms},
                           {"resume_ms", p.resume_ms},
                           {"total_s", p.total_s},
                           {"cpu_s", p.cpu_s},
                           {"bytes", p.bytes},
                           {"precopy_rounds", p.precopy_rounds},
                           {"retransmits", p.retransmits},
                           {"within_budget", p.ok()},
                           {"verified", p.verified}});
    std::printf(
        "%7d %9s %10s %11s %3.0fms %4.0fms %2d %8s %6.1fms %6.1fms %6.1fms "
        "%7.1fms %5.1f%% %6.1fms %4s\n",
        p.devices, FormatBytes(p.state).c_str(), FormatRate(p.dirty).c_str(),
        FormatRate(p.read_bw).c_str(), p.transition_ms, p.budget_ms, p.workers,
        p.serial ? "serial" : "parallel", p.p50(), p.p95(), p.max(), pred,
        100 * p.prediction_error(), p.model_ms,
        !p.verified ? "NO"
        : p.ok()    ? "yes"
                    : "over");
  }
  const double worst =
      errors.empty() ? 0 : *std::max_element(errors.begin(), errors.end());
  j["prediction_error"] = {{"median", Quantile(errors, 0.5)},
                           {"worst", worst},
                           {"points", errors.size()}};
  std::ofstream(dir + "/sweep.json") << j.dump(2) << "\n";
  std::printf(
      "\nok: verified and p95 within the budget (over: verified, p95 past "
      "it); %d run(s) per point\n"
      "engine prediction error (median per point): median %.1f%%, worst "
      "%.1f%% over %zu points\n",
      repeat, 100 * Quantile(errors, 0.5), 100 * worst, errors.size());
  if (fit.refused.empty()) {
    std::printf(
        "model: data plane %s fitted on %d link-bound points; mean |residual| "
        "%.1f%% on them\n",
        FormatRate(fit.link).c_str(), fit.points, 100 * fit.residual);
    std::printf(
        "`vmig-bench model --per-core %.2f --residual %.0f ...` projects other "
        "machines (one worker lcore each side)\n",
        fit.link / 1e9, 100 * fit.residual);
  } else {
    std::printf("model: no fit: %s\n", fit.refused.c_str());
  }
}

void WriteBudgetTable(const std::string& dir, const std::vector<Point>& pts) {
  std::ofstream out(dir + "/budget.txt");
  auto line = [&](const std::string& s) {
    out << s << "\n";
    std::printf("%s\n", s.c_str());
  };
  line(
      "\nbudget table: largest state per device whose p95 downtime held the "
      "budget (parallel schedule, measured, searched over the grid's states)");
  line(absl::StrFormat("%8s %7s %11s %6s %8s %12s %30s", "budget", "workers",
                       "read", "arc", "devices", "dirty", "max state/device"));
  using Key = std::tuple<double, int, double, double, int, double>;
  std::map<Key, std::map<uint64_t, bool>> held;  // state -> held
  for (const auto& p : pts) {
    if (p.serial) continue;
    held[{p.budget_ms, p.workers, p.read_bw, p.transition_ms, p.devices,
          p.dirty}][p.state] = p.ok();
  }
  for (const auto& [k, states] : held) {
    const auto& [bud, wk, rd, arc, dev, dirty] = k;
    // The largest state below the first one that failed: past a failure, a
    // larger state that held is noise, not a limit.
    uint64_t best = 0;
    bool failed = false;
    for (const auto& [state, ok] : states) {
      if (!ok) {
        failed = true;
        break;
      }
      best = state;
    }
    std::string v = best == 0 ? std::string("none in the grid")
                    : failed  ? FormatBytes(static_cast<double>(best))
                              : ">= " + FormatBytes(static_cast<double>(best)) +
                                   " (beyond the grid)";
    line(absl::StrFormat("%6.0fms %7d %11s %4.0fms %8d %12s %30s", bud, wk,
                         FormatRate(rd), arc, dev, FormatRate(dirty), v));
  }
}

}  // namespace vmig::bench
