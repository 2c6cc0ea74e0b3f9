#include "bench/downtime_command.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/daemon_pair.h"
#include "bench/options.h"
#include "bench/stall_sentinel.h"
#include "bench/sweep_point.h"
#include "common/units.h"
#include "proto/convert.h"

namespace vmig::bench {
namespace {

constexpr char kUsage[] =
    "usage: vmig-bench downtime [--devices N] [--state SIZE] [--read-bw RATE]\n"
    "                           [--read-ahead SIZE] [--transition-ms MS]\n"
    "                           [--runs N] [--vmigd PATH]\n"
    "\n"
    "Starts two vmigd daemons joined by memif and migrates N emulated devices\n"
    "(P2P, no PRE_COPY: all their state is stop-copy state):\n"
    "  calibration  devices unthrottled, no transition cost: measures the "
    "link\n"
    "  parallel     the lockstep schedule vmigd uses, each run judged "
    "against\n"
    "               the calibration just before it (--runs pairs)\n"
    "  serial       one device at a time, transitions one after another (QEMU\n"
    "               without multifd)\n"
    "and compares the parallel downtime with the critical-path lower bound:\n"
    "  6 arcs x transition (3 source, 3 destination, each done in parallel)\n"
    "  + max(state / read rate, N x state / link bandwidth).\n"
    "Each device saves at the read rate from its STOP_COPY arc on, while it\n"
    "is read (1 ms of slack), or with --read-ahead up to that many bytes\n"
    "ahead of its reader (mlx5: two 8 MiB chunks, 16MiB). A pair during which\n"
    "the host stalled a CPU for 20 ms or more is shown but not judged.\n"
    "Defaults: 8 devices, 64MiB, 1GiB/s, no read-ahead, 10 ms, 3 runs.\n"
    "Last line: JSON.\n";

}  // namespace

int RunDowntimeBench(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {
      {"--devices", "8"},        {"--state", "64MiB"},
      {"--read-bw", "1GiB/s"},   {"--read-ahead", "0"},
      {"--transition-ms", "10"}, {"--runs", "3"},
      {"--vmigd", FindVmigd()}};
  if (int rc = ParseOptions(args, "downtime", kUsage, opt); rc >= 0) return rc;
  int n = 0, runs = 0;
  double transition_ms = 0;
  auto state = ParseBytes(opt["--state"]);
  auto read_bw = ParseRate(opt["--read-bw"]);
  auto read_ahead = ParseBytes(opt["--read-ahead"]);
  if (!absl::SimpleAtoi(opt["--devices"], &n) || n < 1 || n > 64 ||
      !absl::SimpleAtoi(opt["--runs"], &runs) || runs < 1 || runs > 100 ||
      !state.ok() || !read_bw.ok() || *read_bw <= 0 || !read_ahead.ok() ||
      !absl::SimpleAtod(opt["--transition-ms"], &transition_ms)) {
    std::cerr << "vmig-bench downtime: bad arguments\n" << kUsage;
    return 2;
  }
  auto pair = DaemonPair::Start(opt["--vmigd"]);
  if (!pair.ok()) {
    std::cerr << "vmig-bench downtime: " << pair.status().message() << "\n";
    return 1;
  }
  auto run = [&](const std::string& tag, bool throttled,
                 bool serial) -> absl::StatusOr<MigrationOutcome> {
    std::vector<std::string> ids, specs;
    for (int i = 0; i < n; ++i) {
      ids.push_back(absl::StrCat(tag, i));
      std::string spec = absl::StrCat("emu:state=", *state,
                                      ",flags=stop_copy|p2p,seed=", i + 1);
      if (throttled) {
        absl::StrAppend(&spec, ",read_bw=", opt["--read-bw"],
                        ",transition_ms=", transition_ms);
        if (*read_ahead > 0)
          absl::StrAppend(&spec, ",read_ahead=", *read_ahead);
      }
      specs.push_back(spec);
    }
    v1::StartMigrationRequest req;
    req.mutable_downtime_budget()->set_seconds(60);  // switch over at once
    req.set_serial_schedule(serial);
    auto out = (*pair)->Migrate(ids, specs, req);
    if (out.ok()) {
      const auto& r = out->source.report();
      std::printf(
          "%-12s downtime %8.1f ms  (quiesce %6.1f, stop-copy %7.1f, load "
          "%5.1f, "
          "resume %5.1f; predicted %7.1f)  %s\n",
          tag.c_str(), ToMillis(r.downtime()), ToMillis(r.quiesce()),
          ToMillis(r.stop_copy_transfer()), ToMillis(r.destination_load()),
          ToMillis(r.resume()), ToMillis(r.predicted()),
          out->verified ? "verified" : "NOT VERIFIED");
      std::fflush(stdout);
    }
    return out;
  };
  std::printf(
      "%d devices x %s of stop-copy state, read %s (%s ahead), %.0f ms per "
      "arc\n",
      n, FormatBytes(static_cast<double>(*state)).c_str(),
      opt["--read-bw"].c_str(),
      *read_ahead > 0 ? FormatBytes(static_cast<double>(*read_ahead)).c_str()
                      : "1 ms",
      transition_ms);
  // A run across a host stall measures the hypervisor, not vmigd.
  const StallSentinel sentinel;
  auto stall_during = [&](const MigrationOutcome& out) {
    const absl::Duration stall = SwitchoverStall(sentinel, out);
    if (stall > absl::ZeroDuration()) {
      std::printf(
          "             (the host stalled a CPU for %.0f ms during "
          "it: not judged)\n",
          absl::ToDoubleMilliseconds(stall));
    }
    return stall > absl::ZeroDuration();
  };
  auto fail = [](const absl::Status& s) {
    std::cerr << "vmig-bench downtime: " << s.message() << "\n";
    std::printf("{\"verified\":false}\n");
    return 1;
  };
  const double total = static_cast<double>(*state) * n;
  auto rate = [&](const MigrationOutcome& o) {
    return total / (ToMillis(o.source.report().stop_copy_transfer()) / 1e3);
  };
  // Each lockstep run is judged against a bound from the calibration run
  // just before it, on the same pair: the host's speed drifts over a
  // minute, and a ratio of figures from different minutes would carry it.
  // The link's rate is the better of the two runs' (the calibration's
  // devices are unthrottled, but a throttled run can still be faster).
  struct Pair {
    double down_ms, bound_ms, link, predicted_ms;
    bool judged;
  };
  std::vector<Pair> pairs;
  bool verified = true;
  for (int i = 0; i < runs; ++i) {
    auto cal = run("calibration", false, false);
    const bool cal_stalled = cal.ok() && stall_during(*cal);
    auto par = cal.ok() ? run("parallel", true, false) : cal;
    if (!par.ok()) return fail(par.status());
    const bool par_stalled = stall_during(*par);
    verified = verified && cal->verified && par->verified;
    const double link = std::max(rate(*cal), rate(*par));
    const double bound_ms =
        6 * transition_ms +
        std::max(static_cast<double>(*state) / *read_bw, total / link) * 1e3;
    pairs.push_back({ToMillis(par->source.report().downtime()), bound_ms, link,
                     ToMillis(par->source.report().predicted()),
                     !cal_stalled && !par_stalled});
  }
  auto ser = run("serial", true, true);
  if (!ser.ok()) return fail(ser.status());
  verified = verified && ser->verified;
  auto median = [](const std::vector<double>& v) { return Quantile(v, 0.5); };
  std::vector<double> downs, bounds, links, ratios, predicted;
  size_t judged = 0;
  for (const Pair& p : pairs) judged += p.judged;
  for (const Pair& p : pairs) {
    if (judged > 0 && !p.judged) continue;  // all shown if none is judged
    downs.push_back(p.down_ms);
    bounds.push_back(p.bound_ms);
    links.push_back(p.link);
    ratios.push_back(p.down_ms / p.bound_ms);
    predicted.push_back(p.predicted_ms);
  }
  const double down = median(downs), ratio = median(ratios);
  const auto [lo, hi] = std::minmax_element(downs.begin(), downs.end());
  const auto [rlo, rhi] = std::minmax_element(ratios.begin(), ratios.end());
  const double serial = ToMillis(ser->source.report().downtime());
  std::printf(
      "\nlink bandwidth %s, lower bound %.1f ms (medians over the pairs)\n",
      FormatRate(median(links)).c_str(), median(bounds));
  if (judged == 0) {
    std::printf(
        "parallel / lower bound: not judged (every pair met a host "
        "stall; %.2f-%.2f)\n",
        *rlo, *rhi);
  } else {
    std::printf(
        "parallel / lower bound = %.2f, median of %zu pairs (%.2f-%.2f; "
        "target <= 1.15); serial / parallel = %.2f (target >= 3)\n",
        ratio, judged, *rlo, *rhi, serial / down);
  }
  std::printf(
      "{\"downtime_ms\":%.2f,\"downtime_min_ms\":%.2f,\"downtime_max_ms\":"
      "%.2f,\"runs\":%d,\"judged_runs\":%zu,\"lower_bound_ms\":%.2f,"
      "\"ratio\":%s,\"ratio_min\":%.3f,\"ratio_max\":%.3f,"
      "\"serial_downtime_ms\":%.2f,"
      "\"verified\":%s,\"link_gbytes_per_s\":%.3f,\"predicted_ms\":%.2f,"
      "\"devices\":%d,\"state_bytes\":%llu,\"read_bytes_per_s\":%.0f,"
      "\"read_ahead_bytes\":%llu,\"transition_ms\":%.1f}\n",
      down, *lo, *hi, runs, judged, median(bounds),
      judged == 0 ? "null" : absl::StrFormat("%.3f", ratio).c_str(), *rlo, *rhi,
      serial, verified ? "true" : "false", median(links) / 1e9,
      median(predicted), n, static_cast<unsigned long long>(*state), *read_bw,
      static_cast<unsigned long long>(*read_ahead), transition_ms);
  return verified ? 0 : 1;
}

}  // namespace vmig::bench
