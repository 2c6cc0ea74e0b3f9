// vmig-bench predict: the downtime prediction checked against what happens,
// over a grid of heterogeneous sessions between two real daemons that start
// cold (no history): devices with and without PRE_COPY, different read
// rates and arcs, dirty rates, a write-bound destination, 1 to 8 devices,
// parallel and serial, and budgets that cannot be met.
#include "bench/predict_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/daemon_pair.h"
#include "bench/options.h"
#include "bench/stall_sentinel.h"
#include "bench/sweep_point.h"
#include "daemon/model/downtime_model.h"
#include "proto/convert.h"

namespace vmig::bench {
namespace {

struct Case {
  std::string name;
  std::vector<std::string> specs, dest_specs;  // without the "emu:" prefix
  double budget_ms;
  bool serial = false;
  // The budget is below what the devices can do: the session must be
  // refused, naming the smallest downtime it could promise.
  bool unreachable = false;
  // Its downtime is mostly stop-copy transfer, which grows with the state:
  // the budget grows with the scale too.
  bool budget_scales = false;
};

// `k` scales every state size (1: the test's small grid).
std::vector<Case> Grid(int k) {
  auto mib = [&](int m) { return absl::StrCat(m * k, "MiB"); };
  const std::string pre = "flags=stop_copy|p2p|pre_copy";
  const std::string stop = "flags=stop_copy|p2p";
  std::vector<Case> g;
  g.push_back({"one-precopy-device",
               {absl::StrCat("state=", mib(8), ",dirty=4MiB/s,", pre,
                             ",transition_ms=5")},
               {},
               100});
  g.push_back(
      {"two-rates-two-arcs",
       {absl::StrCat("state=", mib(16), ",read_bw=256MiB/s,dirty=8MiB/s,", pre,
                     ",transition_ms=3"),
        absl::StrCat("state=", mib(8), ",read_bw=1GiB/s,dirty=2MiB/s,", pre,
                     ",transition_ms=8")},
       {},
       150});
  g.push_back({"four-without-precopy",
               std::vector<std::string>(
                   4, absl::StrCat("state=", mib(4), ",read_bw=512MiB/s,", stop,
                                   ",transition_ms=4")),
               {},
               300});
  g.push_back({"write-bound-destination",
               {absl::StrCat("state=", mib(16), ",", stop, ",transition_ms=2")},
               {absl::StrCat("state=", mib(16), ",", stop,
                             ",transition_ms=2,write_bw=128MiB/s,seed=77")},
               200});
  g.push_back({"serial-mixed",
               {absl::StrCat("state=", mib(8), ",dirty=4MiB/s,", pre,
                             ",transition_ms=6"),
                absl::StrCat("state=", mib(4), ",read_bw=256MiB/s,", stop,
                             ",transition_ms=3"),
                absl::StrCat("state=", mib(8), ",dirty=2MiB/s,", pre,
                             ",transition_ms=2")},
               {},
               400,
               true});
  g.push_back({"eight-parallel",
               std::vector<std::string>(
                   8, absl::StrCat("state=", mib(2), ",dirty=1MiB/s,", pre,
                                   ",transition_ms=5")),
               {},
               200});
  for (Case& c : g) {
    c.budget_scales = c.name == "four-without-precopy" ||
                      c.name == "write-bound-destination" ||
                      c.name == "serial-mixed";
    if (c.budget_scales) c.budget_ms *= k;
  }
  g.push_back({"budget-below-stop-copy",
               {absl::StrCat("state=", mib(32), ",read_bw=64MiB/s,", stop,
                             ",transition_ms=2")},
               {},
               50,
               false,
               true});
  return g;
}

double Ms(const google::protobuf::Duration& d) { return ToMillis(d); }

constexpr char kUsage[] =
    "usage: vmig-bench predict [--scale small|full] [--repeat N]\n"
    "                          [--case NAME] [--vmigd PATH]\n"
    "                          [--phases yes] [--cold yes]\n"
    "                          [--calibration FILE]\n\n"
    "Runs a grid of heterogeneous migrations between two fresh vmigd\n"
    "daemons (memif) and compares each switchover's prediction with\n"
    "the downtime measured: PRE_COPY and stop-copy-only devices,\n"
    "several read rates and arcs, dirty rates, a write-bound\n"
    "destination, 1 to 8 devices, parallel and serial, and a budget\n"
    "below what the devices can do. Every case runs N times in a row\n"
    "(the first on a cold pair). Pass: median |error| <= 10%, worst\n"
    "<= 25% over the predictions that rested on measurements; every\n"
    "completed session <= 1.15x its budget; every unreachable budget\n"
    "refused naming the smallest promisable downtime, the source\n"
    "intact. --scale full: 8x the state sizes. --phases yes: each\n"
    "run's quiesce, stop-copy and commit, measured/predicted (ms).\n"
    "--cold yes: every run on a fresh daemon pair (each class's first\n"
    "migration, no history); a prediction that rests on a guess is a\n"
    "promise of its bound, and a downtime past it fails the run.\n"
    "--calibration FILE: both daemons load it (calibration_file).\n"
    "Last line: JSON.\n";

// Why a figure is shown and not judged: the stall the sentinel saw.
std::string NotJudged(absl::Duration stall, absl::string_view during) {
  return absl::StrFormat(
      "not judged: the host stalled a CPU for %.0f ms during %s",
      absl::ToDoubleMilliseconds(stall), during);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> PredictGridClasses(
    const std::string& scale) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Case& c : Grid(scale == "full" ? 8 : 1)) {
    for (size_t i = 0; i < c.specs.size(); ++i) {
      std::pair<std::string, std::string> cls = {
          c.specs[i], i < c.dest_specs.size() ? c.dest_specs[i] : ""};
      if (std::find(out.begin(), out.end(), cls) == out.end())
        out.push_back(cls);
    }
  }
  return out;
}

int RunPredict(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {
      {"--scale", "small"}, {"--repeat", "2"},  {"--vmigd", FindVmigd()},
      {"--case", ""},       {"--phases", "no"}, {"--cold", "no"},
      {"--calibration", ""}};
  if (int rc = ParseOptions(args, "predict", kUsage, opt); rc >= 0) return rc;
  int repeat = 0;
  if (!absl::SimpleAtoi(opt["--repeat"], &repeat) || repeat < 1 ||
      repeat > 100) {
    std::fprintf(stderr, "predict: --repeat takes 1..100\n");
    return 2;
  }
  if (opt["--scale"] != "small" && opt["--scale"] != "full") {
    std::fprintf(stderr, "predict: --scale takes small or full\n");
    return 2;
  }
  const int k = opt["--scale"] == "full" ? 8 : 1;
  const bool cold = opt["--cold"] == "yes";
  if (opt["--cold"] != "yes" && opt["--cold"] != "no") {
    std::fprintf(stderr, "predict: --cold takes yes or no\n");
    return 2;
  }
  PairOptions po;
  po.calibration_file = opt["--calibration"];
  // Cold: a fresh pair for every run (no history of any class); else one
  // pair for the whole grid.
  absl::StatusOr<std::unique_ptr<DaemonPair>> pair;
  auto fresh_pair = [&]() -> bool {
    pair = nullptr;  // the old pair's daemons end before the new start
    pair = DaemonPair::Start(opt["--vmigd"], po);
    if (pair.ok()) return true;
    std::fprintf(stderr, "predict: %s\n",
                 std::string(pair.status().message()).c_str());
    return false;
  };
  if (!cold && !fresh_pair()) return 1;
  const double jitter_ms =
      absl::ToDoubleMilliseconds(daemon::kSchedulingJitter);
  // Runs across which the host took a CPU away are shown, not judged.
  const StallSentinel sentinel;
  int stalled = 0;
  int held = 0, overrun = 0;
  std::vector<double> measured_err, guessed_err;
  int completed = 0, over_budget = 0, refused_ok = 0, refused_bad = 0,
      refused_stalled = 0, failed = 0, unverified = 0;
  std::printf("%-26s %3s %9s %9s %9s %8s %7s %s\n", "case", "run", "predicted",
              "bound", "downtime", "error", "budget", "notes");
  int serial_no = 0;
  // What a run decides rests on what it and the runs before it measured:
  // its devices' classes (the same in each run of a case) and the link,
  // the commit and the stop-copy's fixed cost (learnt by every run).
  const absl::Time grid_start = absl::Now();
  for (const Case& c : Grid(k)) {
    if (!opt["--case"].empty() && c.name != opt["--case"]) continue;
    for (int run = 0; run < repeat; ++run) {
      std::vector<std::string> ids, specs, dest;
      for (size_t i = 0; i < c.specs.size(); ++i) {
        ids.push_back(absl::StrCat("g", serial_no, "d", i));
        // The same device (spec) in every run: what a run measured is the
        // next one's history.
        specs.push_back(absl::StrCat("emu:", c.specs[i], ",seed=", i + 1));
        if (i < c.dest_specs.size()) dest.push_back("emu:" + c.dest_specs[i]);
      }
      ++serial_no;
      if (cold && !fresh_pair()) return 1;
      v1::StartMigrationRequest req;
      ToProto(absl::Microseconds(c.budget_ms * 1e3),
              req.mutable_downtime_budget());
      req.mutable_precopy()->mutable_max_precopy()->set_seconds(20);
      req.set_serial_schedule(c.serial);
      MigrateOptions mo;
      mo.dest_specs = dest;
      mo.accept_failure = true;
      auto out = (*pair)->Migrate(ids, specs, req, mo);
      if (!out.ok()) {
        std::printf("%-26s %3d  error: %s\n", c.name.c_str(), run + 1,
                    std::string(out.status().message()).c_str());
        ++failed;
        continue;
      }
      if (!out->completed) {
        const std::string& e = out->source.error();
        const bool named =
            e.find("smallest downtime this session can promise") !=
            std::string::npos;
        const bool ok = c.unreachable && named && out->source_intact;
        // A reachable budget refused, the source intact, after the host
        // took a CPU away while the grid measured: the link probe or a rate
        // the refusal rests on took the stall for slowness (a 100 ms stall
        // in a 10 ms probe), which is the host's doing, not the model's.
        // Shown, not judged (as the worst error is).
        const absl::Duration stall =
            ok || !named || !out->source_intact
                ? absl::ZeroDuration()
                : sentinel.LongestIn(grid_start, absl::Now());
        std::string judged;
        if (stall > absl::ZeroDuration()) {
          ++refused_stalled;
          judged = absl::StrCat(" (", NotJudged(stall, "the grid"), ")");
        } else {
          (ok ? refused_ok : refused_bad) += 1;
        }
        std::printf("%-26s %3d %39s %7.0f refused%s%s: %s\n", c.name.c_str(),
                    run + 1, "", c.budget_ms,
                    out->source_intact ? ", source intact" : ", SOURCE CHANGED",
                    judged.c_str(), e.substr(0, 160).c_str());
        continue;
      }
      ++completed;
      if (c.unreachable) ++refused_bad;  // it should not have completed
      if (!out->verified) ++unverified;
      const v1::DowntimeReport& r = out->source.report();
      const double err =
          (Ms(r.predicted()) - Ms(r.downtime())) / Ms(r.downtime());
      const bool guessed = !r.prediction_guesses().empty();
      const absl::Duration stall = SwitchoverStall(sentinel, *out);
      std::string verdict = r.budget_met() ? "met" : "MISSED";
      if (stall > absl::ZeroDuration()) {
        ++stalled;
        verdict = NotJudged(stall, "the switchover");
      } else {
        // Judged net of the scheduling jitter the model allows for: on a
        // 30 ms switchover, two cores shared by both daemons and whatever
        // else runs move a downtime by more than 2 ms, which is no error of
        // the model (one CI run: predicted 37.8 ms, measured 30.0).
        const double judged =
            std::max(0.0, std::fabs(Ms(r.predicted()) - Ms(r.downtime())) -
                              jitter_ms) /
            Ms(r.downtime());
        (guessed ? guessed_err : measured_err).push_back(judged);
        if (Ms(r.downtime()) > 1.15 * c.budget_ms) ++over_budget;
        // A guessed prediction is a promise of its bound: it held, or the
        // session overran silently.
        if (guessed)
          (Ms(r.downtime()) <= Ms(r.predicted_bound()) ? held : overrun) += 1;
      }
      const std::string phases =
          opt["--phases"] != "yes"
              ? ""
              : absl::StrFormat(
                    "; quiesce %.1f/%.1f, stop-copy %.1f/%.1f, commit "
                    "%.1f/%.1f",
                    Ms(r.quiesce()), Ms(r.predicted_quiesce()),
                    Ms(r.stop_copy_transfer()), Ms(r.predicted_stop_copy()),
                    Ms(r.downtime()) - Ms(r.quiesce()) -
                        Ms(r.stop_copy_transfer()),
                    Ms(r.predicted_commit()));
      std::printf("%-26s %3d %9.1f %9.1f %9.1f %+7.1f%% %7.0f %s%s%s%s\n",
                  c.name.c_str(), run + 1, Ms(r.predicted()),
                  Ms(r.predicted_bound()), Ms(r.downtime()), err * 100,
                  c.budget_ms, verdict.c_str(), guessed ? "; guessed: " : "",
                  guessed ? r.prediction_guesses().c_str() : "",
                  phases.c_str());
    }
  }
  const double med = Quantile(measured_err, 0.5) * 100;
  const double worst =
      measured_err.empty()
          ? 0
          : *std::max_element(measured_err.begin(), measured_err.end()) * 100;
  const double worst_guessed =
      guessed_err.empty()
          ? 0
          : *std::max_element(guessed_err.begin(), guessed_err.end()) * 100;
  // A host that took a CPU away at any time during the grid may have done
  // so while a run measured what the next one predicts from (the link
  // probe, a read rate): the worst error is then shown, not judged.
  const size_t host_stalls = sentinel.Count();
  const bool pass = !measured_err.empty() && med <= 10 &&
                    (worst <= 25 || host_stalls > 0) && over_budget == 0 &&
                    refused_bad == 0 && failed == 0 && unverified == 0 &&
                    overrun == 0 && (refused_ok > 0 || !opt["--case"].empty());
  std::printf(
      "\nprediction error over %zu measured predictions, net of %.0f ms of "
      "jitter: median %.1f%%, worst %.1f%% (targets 10%%, 25%%); %zu "
      "guessed (a device never read "
      "before): worst %.1f%%\n"
      "guessed promises (downtime within the bound) held %d, overran %d\n"
      "completed %d (unverified %d, over 1.15x budget %d, not judged for a "
      "stalled host %d); unreachable budgets refused correctly %d, wrongly "
      "%d (not judged for a stalled host %d); errors %d: %s\n",
      measured_err.size(), jitter_ms, med, worst, guessed_err.size(),
      worst_guessed, held, overrun, completed, unverified, over_budget, stalled,
      refused_ok, refused_bad, refused_stalled, failed, pass ? "PASS" : "FAIL");
  std::printf(
      "{\"scale\":\"%s\",\"repeat\":%d,\"measured\":%zu,\"median_error_pct\":"
      "%.2f,\"worst_error_pct\":%.2f,\"guessed\":%zu,\"worst_guessed_error_"
      "pct\":%.2f,\"completed\":%d,\"unverified\":%d,\"over_budget\":%d,"
      "\"refused_ok\":%d,\"refused_bad\":%d,\"errors\":%d,\"cold\":%s,"
      "\"calibrated\":%s,\"guessed_held\":%d,\"guessed_overran\":%d,"
      "\"stalled\":%d,\"refused_stalled\":%d,\"host_stalls\":%zu,"
      "\"pass\":%s}\n",
      opt["--scale"].c_str(), repeat, measured_err.size(), med, worst,
      guessed_err.size(), worst_guessed, completed, unverified, over_budget,
      refused_ok, refused_bad, failed, cold ? "true" : "false",
      po.calibration_file.empty() ? "false" : "true", held, overrun, stalled,
      refused_stalled, host_stalls, pass ? "true" : "false");
  return pass ? 0 : 1;
}

}  // namespace vmig::bench
