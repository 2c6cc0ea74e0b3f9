#include "bench/sweep_command.h"

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/daemon_pair.h"
#include "bench/options.h"
#include "bench/provenance.h"
#include "bench/sweep_output.h"
#include "bench/sweep_plots.h"
#include "common/units.h"
#include "daemon/model/downtime_model.h"
#include "proto/convert.h"

namespace vmig::bench {
namespace {

constexpr char kSweepUsage[] =
    "usage: vmig-bench sweep [--devices LIST] [--state LIST] [--dirty LIST]\n"
    "                        [--read-bw LIST] [--transition-ms LIST]\n"
    "                        [--budget LIST] [--workers LIST]\n"
    "                        [--schedule parallel,serial] [--out DIR]\n"
    "                        [--repeat N] [--preset qemu-anchor]\n"
    "                        [--vmigd PATH]\n"
    "\n"
    "Runs a real migration between two vmigd daemons (memif) for every point\n"
    "of the grid (LIST: comma-separated values) and writes DIR/sweep.json,\n"
    "DIR/sweep.csv, DIR/budget.txt and, with gnuplot, DIR/*.svg and *.png.\n"
    "Devices carry PRE_COPY when their dirty rate is above 0 (their stop-copy\n"
    "state is then what pre-copy leaves); with dirty 0 all state is stop-copy\n"
    "state. --workers is each daemon's worker lcores (the daemons restart\n"
    "for each value; on a host with fewer CPUs the lcores share them). Plots\n"
    "and the model's check use the first value of --read-bw,\n"
    "--transition-ms, --budget and --workers. Every point is verified by\n"
    "digest and run --repeat times: tables give p50, p95 and max; ok means\n"
    "verified with its p95 within the budget. sweep.json carries every\n"
    "sample and the provenance (machine, version, date, command line).\n"
    "Defaults: --devices 1,4,8 --state 16MiB,64MiB --dirty 0 --read-bw 1GiB/s\n"
    "--transition-ms 10 --budget 300 --workers 1 --schedule parallel,serial\n"
    "--out sweep-out\n"
    "\n"
    "--preset qemu-anchor: 4 devices of 100 MiB whose serial switchover is "
    "set\n"
    "(read 248 MiB/s, 12 ms arcs) to QEMU's published serial downtime of\n"
    "1900 ms for 4 ConnectX-7 VFs, compared with its 1095 ms with multifd.\n";

constexpr char kModelUsage[] =
    "usage: vmig-bench model --per-core GB/S [--cores N] [--link-gbit G]\n"
    "                        [--devices N] [--state SIZE] [--read-bw RATE]\n"
    "                        [--transition-ms MS] [--residual PCT]\n"
    "\n"
    "Projects downtime with the model fitted by `vmig-bench sweep` (which "
    "prints\n"
    "the per-core data-plane rate it measured): the link carries\n"
    "min(link, cores x per-core rate); see daemon/model/downtime_model.h for "
    "the\n"
    "formula. It prints an interval: the engine's bound for measured inputs,\n"
    "widened by the fit's residual (--residual, from the sweep).\n";

std::vector<std::string> List(const std::string& s) {
  return absl::StrSplit(s, ',');
}

int BadGrid(const std::string& what, const std::string& value) {
  std::cerr << "vmig-bench sweep: bad " << what << " value '" << value << "'\n";
  return 2;
}

void Progress(size_t done, size_t total, absl::Time start) {
  const double frac = total ? static_cast<double>(done) / total : 1;
  const int filled = static_cast<int>(frac * 30);
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const double eta = done ? elapsed / done * (total - done) : 0;
  std::fprintf(stderr, "\r[%s%s] %zu/%zu migrations  %.0fs elapsed  ETA %.0fs ",
               std::string(filled, '#').c_str(),
               std::string(30 - filled, '.').c_str(), done, total, elapsed,
               eta);
  if (done == total) std::fprintf(stderr, "\n");
}

}  // namespace

double ModelDowntimeMs(int devices, double bytes, double read,
                       double transition_ms, double link, bool serial,
                       bool precopy) {
  daemon::DeviceTerms d;
  d.remaining_bytes = static_cast<uint64_t>(bytes);
  d.read_rate = read;
  d.read_source = daemon::Source::kMeasured;
  d.source_arc = d.destination_arc = absl::Microseconds(transition_ms * 1e3);
  d.arc_source = daemon::Source::kMeasured;
  d.precopy = precopy;
  const std::vector<daemon::DeviceTerms> terms(static_cast<size_t>(devices), d);
  daemon::LinkTerms l;
  l.rate = link;
  l.rate_source = daemon::Source::kMeasured;
  l.serial = serial;
  return absl::ToDoubleMilliseconds(daemon::PredictDowntime(terms, l).expected);
}

int RunSweep(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {
      {"--devices", "1,4,8"},    {"--state", "16MiB,64MiB"},
      {"--dirty", "0"},          {"--read-bw", "1GiB/s"},
      {"--transition-ms", "10"}, {"--budget", "300"},
      {"--workers", "1"},        {"--schedule", "parallel,serial"},
      {"--out", "sweep-out"},    {"--vmigd", FindVmigd()},
      {"--preset", ""},          {"--repeat", "1"}};
  if (int rc = ParseOptions(args, "sweep", kSweepUsage, opt); rc >= 0)
    return rc;
  std::vector<std::string> command_line = {"vmig-bench", "sweep"};
  command_line.insert(command_line.end(), args.begin(), args.end());
  int repeat = 0;
  if (!absl::SimpleAtoi(opt["--repeat"], &repeat) || repeat < 1 ||
      repeat > 100) {
    return BadGrid("--repeat (1-100)", opt["--repeat"]);
  }
  const bool anchor = opt["--preset"] == "qemu-anchor";
  if (!opt["--preset"].empty() && !anchor) {
    std::cerr << "vmig-bench sweep: unknown preset " << opt["--preset"] << "\n";
    return 2;
  }
  if (anchor) {
    opt["--devices"] = "4";
    opt["--state"] = "100MiB";
    opt["--dirty"] = "0";
    opt["--read-bw"] = "248MiB/s";
    opt["--transition-ms"] = "12";
    opt["--schedule"] = "parallel,serial";
  }
  // Every dimension parsed up front; then every combination, grouped by
  // worker count (the daemons restart when it changes).
  std::vector<int> device_counts, worker_counts;
  std::vector<uint64_t> states;
  std::vector<double> dirties, reads, transitions, budgets;
  std::vector<bool> serials;
  for (const auto& v : List(opt["--devices"])) {
    int d = 0;
    if (!absl::SimpleAtoi(v, &d) || d < 1 || d > 16)
      return BadGrid("--devices (1-16)", v);
    device_counts.push_back(d);
  }
  for (const auto& v : List(opt["--state"])) {
    auto b = ParseBytes(v);
    if (!b.ok()) return BadGrid("--state", v);
    states.push_back(*b);
  }
  for (const auto& v : List(opt["--dirty"])) {
    auto r = ParseRate(v);
    if (!r.ok()) return BadGrid("--dirty", v);
    dirties.push_back(*r);
  }
  for (const auto& v : List(opt["--read-bw"])) {
    auto r = ParseRate(v);
    if (!r.ok() || *r <= 0) return BadGrid("--read-bw", v);
    reads.push_back(*r);
  }
  for (const auto& v : List(opt["--transition-ms"])) {
    double t = 0;
    if (!absl::SimpleAtod(v, &t) || t < 0) return BadGrid("--transition-ms", v);
    transitions.push_back(t);
  }
  for (const auto& v : List(opt["--budget"])) {
    double b = 0;
    if (!absl::SimpleAtod(v, &b) || b <= 0) return BadGrid("--budget", v);
    budgets.push_back(b);
  }
  for (const auto& v : List(opt["--workers"])) {
    int w = 0;
    if (!absl::SimpleAtoi(v, &w) || w < 1 || w > 8)
      return BadGrid("--workers (1-8)", v);
    worker_counts.push_back(w);
  }
  for (const auto& v : List(opt["--schedule"])) {
    if (v != "parallel" && v != "serial") return BadGrid("--schedule", v);
    serials.push_back(v == "serial");
  }
  // Point k as a mixed-radix number: the schedule varies fastest, the
  // worker count slowest.
  const size_t total = serials.size() * budgets.size() * transitions.size() *
                       reads.size() * dirties.size() * states.size() *
                       device_counts.size() * worker_counts.size();
  std::vector<Point> pts;
  for (size_t k = 0; k < total; ++k) {
    size_t rest = k;
    auto pick = [&rest](const auto& values, size_t* index = nullptr) {
      const size_t i = rest % values.size();
      rest /= values.size();
      if (index) *index = i;
      return values[i];
    };
    size_t budget_i, transition_i, read_i, workers_i;
    Point p;
    p.serial = pick(serials);
    p.budget_ms = pick(budgets, &budget_i);
    p.transition_ms = pick(transitions, &transition_i);
    p.read_bw = pick(reads, &read_i);
    p.dirty = pick(dirties);
    p.state = pick(states);
    p.devices = pick(device_counts);
    p.workers = pick(worker_counts, &workers_i);
    p.base_setup = budget_i == 0 && transition_i == 0 && read_i == 0;
    p.base = p.base_setup && workers_i == 0;
    pts.push_back(p);
  }
  std::filesystem::create_directories(opt["--out"]);
  std::unique_ptr<DaemonPair> pair;
  const absl::Time start = absl::Now();
  bool all_verified = true;
  const size_t runs = pts.size() * static_cast<size_t>(repeat);
  for (size_t k = 0; k < pts.size(); ++k) {
    Point& p = pts[k];
    if (!pair || (k > 0 && pts[k - 1].workers != p.workers)) {
      pair.reset();  // stop the last pair first: they share the memif path
      auto started = DaemonPair::Start(opt["--vmigd"], p.workers);
      if (!started.ok()) {
        std::cerr << "vmig-bench sweep: " << started.status().message() << "\n";
        return 1;
      }
      pair = std::move(*started);
    }
    std::vector<std::string> ids, specs;
    for (int i = 0; i < p.devices; ++i) {
      ids.push_back(absl::StrCat("p", k, "d", i));
      specs.push_back(absl::StrCat(
          "emu:state=", p.state, ",read_bw=", static_cast<uint64_t>(p.read_bw),
          "/s,transition_ms=", p.transition_ms, ",seed=", i + 1,
          p.dirty > 0
              ? absl::StrCat(",dirty=", static_cast<uint64_t>(p.dirty), "/s")
              : std::string(",flags=stop_copy|p2p")));
    }
    v1::StartMigrationRequest req;
    req.mutable_downtime_budget()->set_seconds(
        static_cast<int64_t>(p.budget_ms / 1000));
    req.mutable_downtime_budget()->set_nanos(
        static_cast<int32_t>(std::fmod(p.budget_ms, 1000.0) * 1e6));
    req.mutable_precopy()->mutable_max_precopy()->set_seconds(20);
    // A sweep measures every point, those past their budget too (`ok` says
    // which held it).
    req.set_allow_budget_overrun(true);
    req.set_serial_schedule(p.serial);
    p.verified = true;
    std::vector<std::pair<double, v1::DowntimeReport>> reports;
    for (int r = 0; r < repeat; ++r) {
      Progress(k * static_cast<size_t>(repeat) + static_cast<size_t>(r), runs,
               start);
      auto out = pair->Migrate(ids, specs, req);
      if (!out.ok()) {
        std::fprintf(stderr, "\npoint %zu run %d failed: %s\n", k, r + 1,
                     std::string(out.status().message()).c_str());
        p.verified = false;
        continue;
      }
      const auto& rep = out->source.report();
      p.downtimes_ms.push_back(ToMillis(rep.downtime()));
      p.predictions_ms.push_back(ToMillis(rep.predicted()));
      reports.push_back({ToMillis(rep.downtime()), rep});
      p.total_s += out->total_seconds;
      p.cpu_s += out->cpu_seconds;
      p.bytes += out->bytes;
      p.verified = p.verified && out->verified;
    }
    all_verified = all_verified && p.verified;
    if (reports.empty()) continue;
    // The phases of the median repetition.
    std::sort(reports.begin(), reports.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    const v1::DowntimeReport& r = reports[reports.size() / 2].second;
    p.quiesce_ms = ToMillis(r.quiesce());
    p.transfer_ms = ToMillis(r.stop_copy_transfer());
    p.load_ms = ToMillis(r.destination_load());
    p.resume_ms = ToMillis(r.resume());
    p.precopy_rounds = r.precopy_rounds();
    p.retransmits = r.retransmitted_frames();
    for (const auto& dv : r.devices())
      p.stop_copy_bytes += static_cast<double>(dv.bytes());
    p.stop_copy_bytes /= p.devices;
  }
  Progress(runs, runs, start);

  const std::string dir = opt["--out"];
  const ModelFit fit = FitModel(pts);
  WriteSweep(dir, pts, fit, repeat, Provenance(command_line));
  WriteBudgetTable(dir, pts);
  if (anchor) {
    const Point* par = nullptr;
    const Point* ser = nullptr;
    for (const auto& p : pts) (p.serial ? ser : par) = &p;
    if (par && ser) {
      std::printf(
          "\nQEMU anchor (4 x ~100 MiB VFs): published serial 1900 ms, "
          "multifd 1095 ms\n"
          "vmigd here (%d runs): serial p50 %.0f ms (set to match); parallel "
          "lockstep p50 %.0f ms, p95 %.0f ms, max %.0f ms: p50 %.2fx, p95 "
          "%.2fx QEMU multifd\n",
          repeat, ser->p50(), par->p50(), par->p95(), par->max(),
          par->p50() / 1095.0, par->p95() / 1095.0);
      nlohmann::json a = {{"qemu_serial_ms", 1900},
                          {"qemu_multifd_ms", 1095},
                          {"repeat", repeat},
                          {"vmigd_serial_p50_ms", ser->p50()},
                          {"vmigd_parallel_p50_ms", par->p50()},
                          {"vmigd_parallel_p95_ms", par->p95()},
                          {"vmigd_parallel_max_ms", par->max()},
                          {"vmigd_parallel_ms", par->downtimes_ms},
                          {"provenance", Provenance(command_line)}};
      std::ofstream(dir + "/anchor.json") << a.dump(2) << "\n";
    }
  }
  WritePlots(
      dir, pts,
      absl::StrCat("read ", FormatRate(reads[0]), ", arcs ", transitions[0],
                   " ms, budget ", budgets[0], " ms, workers ",
                   worker_counts[0], ", ", repeat, " run(s) per point"));
  std::printf("wrote %s/sweep.json, sweep.csv, budget.txt\n", dir.c_str());
  return all_verified ? 0 : 1;
}

int RunModel(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {
      {"--per-core", ""},        {"--cores", "1"},    {"--link-gbit", "100"},
      {"--devices", "8"},        {"--state", "1GiB"}, {"--read-bw", "4GiB/s"},
      {"--transition-ms", "10"}, {"--residual", "0"}};
  if (int rc = ParseOptions(args, "model", kModelUsage, opt); rc >= 0)
    return rc;
  double per_core = 0, cores = 0, gbit = 0, t = 0, residual = 0;
  int n = 0;
  auto state = ParseBytes(opt["--state"]);
  auto read = ParseRate(opt["--read-bw"]);
  if (!absl::SimpleAtod(opt["--per-core"], &per_core) || per_core <= 0 ||
      !absl::SimpleAtod(opt["--cores"], &cores) || cores <= 0 ||
      !absl::SimpleAtod(opt["--link-gbit"], &gbit) || gbit <= 0 ||
      !absl::SimpleAtoi(opt["--devices"], &n) || n < 1 || !state.ok() ||
      !read.ok() || *read <= 0 ||
      !absl::SimpleAtod(opt["--transition-ms"], &t) || t < 0 ||
      !absl::SimpleAtod(opt["--residual"], &residual) || residual < 0 ||
      residual >= 100) {
    std::cerr << kModelUsage;
    return 2;
  }
  const double link = std::min(gbit * 1e9 / 8, cores * per_core * 1e9);
  // The engine's model with every input taken as measured: its bound is
  // what the measurements' uncertainty allows; the fit's residual widens
  // the interval further.
  auto interval = [&](bool serial) {
    daemon::DeviceTerms d;
    d.remaining_bytes = *state;
    d.read_rate = *read;
    d.read_source = daemon::Source::kMeasured;
    d.source_arc = d.destination_arc = absl::Microseconds(t * 1e3);
    d.arc_source = daemon::Source::kMeasured;
    daemon::LinkTerms l;
    l.rate = link;
    l.rate_source = daemon::Source::kMeasured;
    l.serial = serial;
    const daemon::Prediction p =
        daemon::PredictDowntime(std::vector<daemon::DeviceTerms>(n, d), l);
    const double e = absl::ToDoubleMilliseconds(p.expected);
    return std::array<double, 3>{e * (1 - residual / 100), e,
                                 std::max(absl::ToDoubleMilliseconds(p.bound),
                                          e * (1 + residual / 100))};
  };
  const auto par = interval(false), ser = interval(true);
  std::printf(
      "%d devices x %s stop-copy state, read %s, %.0f ms arcs, %.0f Gbit/s "
      "link, %.0f core(s) at %.2f GB/s: effective %s\n",
      n, FormatBytes(static_cast<double>(*state)).c_str(),
      FormatRate(*read).c_str(), t, gbit, cores, per_core,
      FormatRate(link).c_str());
  std::printf(
      "predicted downtime: parallel lockstep %.1f ms (%.1f .. %.1f), serial "
      "%.1f ms (%.1f .. %.1f)\n",
      par[1], par[0], par[2], ser[1], ser[0], ser[2]);
  std::printf(
      "assumes: no PRE_COPY (all state moves in stop-copy); the data plane "
      "scales linearly with cores up to the link; arcs take the same on both "
      "sides; 1 ms of commit overhead; the interval is the engine's bound for "
      "measured inputs (+-15%% rates and arcs, 2 ms jitter) widened by the "
      "fit's residual (%.0f%%)\n",
      residual);
  std::printf(
      "{\"parallel_ms\":%.2f,\"parallel_low_ms\":%.2f,\"parallel_high_ms\":"
      "%.2f,\"serial_ms\":%.2f,\"serial_low_ms\":%.2f,\"serial_high_ms\":%."
      "2f,\"link_bytes_per_s\":%.0f}\n",
      par[1], par[0], par[2], ser[1], ser[0], ser[2], link);
  return 0;
}

}  // namespace vmig::bench
