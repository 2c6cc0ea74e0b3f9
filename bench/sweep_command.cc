#include "bench/sweep_command.h"

#include <unistd.h>

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
#include "common/units.h"
#include "daemon/downtime_model.h"
#include "proto/convert.h"

namespace vmig::bench {
namespace {

constexpr char kSweepUsage[] =
    "usage: vmig-bench sweep [--devices LIST] [--state LIST] [--dirty LIST]\n"
    "                        [--read-bw LIST] [--transition-ms LIST]\n"
    "                        [--budget LIST] [--workers LIST]\n"
    "                        [--schedule parallel,serial] [--out DIR]\n"
    "                        [--preset qemu-anchor] [--vmigd PATH]\n"
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
    "digest.\n"
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
    "                        [--transition-ms MS]\n"
    "\n"
    "Projects downtime with the model fitted by `vmig-bench sweep` (which "
    "prints\n"
    "the per-core data-plane rate it measured): the link carries\n"
    "min(link, cores x per-core rate); see sweep_command.h for the formula.\n";

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
  // Measured.
  double downtime_ms = 0, predicted_ms = 0, quiesce_ms = 0, transfer_ms = 0,
         load_ms = 0, resume_ms = 0, total_s = 0, cpu_s = 0,
         stop_copy_bytes = 0;
  uint64_t bytes = 0;
  uint32_t precopy_rounds = 0;
  uint64_t retransmits = 0;
  bool verified = false;
  double model_ms = 0;
};

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
  std::fprintf(stderr, "\r[%s%s] %zu/%zu points  %.0fs elapsed  ETA %.0fs ",
               std::string(filled, '#').c_str(),
               std::string(30 - filled, '.').c_str(), done, total, elapsed,
               eta);
  if (done == total) std::fprintf(stderr, "\n");
}

void WritePlots(const std::string& dir, const std::vector<Point>& pts) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::printf("gnuplot not found: no plots (apt-get install gnuplot-nox)\n");
    return;
  }
  std::set<int> devices, worker_counts;
  std::set<uint64_t> states;
  std::set<double> dirties;
  for (const auto& p : pts) {
    worker_counts.insert(p.workers);
    if (!p.base) continue;
    devices.insert(p.devices);
    states.insert(p.state);
    dirties.insert(p.dirty);
  }
  // One data file per (series): columns x, downtime_ms.
  auto series = [&](const std::string& name, auto key, auto x, auto keep) {
    std::map<std::string, std::vector<std::pair<double, double>>> s;
    for (const auto& p : pts) {
      // Only the first value of the other dimensions (workers varies on
      // its own plot).
      if (keep(p) && (name == "workers" ? p.base_setup : p.base))
        s[key(p)].push_back({x(p), p.downtime_ms});
    }
    std::string plot;
    int i = 0;
    for (auto& [label, v] : s) {
      std::sort(v.begin(), v.end());
      const std::string file = absl::StrCat(dir, "/", name, "_", i, ".dat");
      std::ofstream out(file);
      for (auto [a, b] : v) out << a << " " << b << "\n";
      absl::StrAppend(
          &plot, plot.empty() ? "" : ", ", "'", file,
          "' with linespoints title '", label, "'",
          label.find("serial") != std::string::npos ? " dashtype 2" : "");
      ++i;
    }
    return plot;
  };
  auto sched = [](const Point& p) {
    return p.serial ? std::string("serial") : "parallel";
  };
  struct Plot {
    std::string name, xlabel, plot;
  };
  std::vector<Plot> plots;
  const uint64_t max_state = *states.rbegin();
  const int max_dev = *devices.rbegin();
  const double min_dirty = *dirties.begin();
  if (devices.size() > 1) {
    plots.push_back(
        {"downtime_vs_devices", "devices",
         series(
             "devices",
             [&](const Point& p) {
               return absl::StrCat(sched(p), " ", FormatBytes(p.state),
                                   "/device");
             },
             [](const Point& p) { return double(p.devices); },
             [&](const Point& p) { return p.dirty == min_dirty; })});
  }
  if (states.size() > 1) {
    plots.push_back({"downtime_vs_state", "state per device (MiB)",
                     series(
                         "state",
                         [&](const Point& p) {
                           return absl::StrCat(sched(p), " x", p.devices);
                         },
                         [](const Point& p) { return p.state / 1048576.0; },
                         [&](const Point& p) {
                           return p.devices == max_dev && p.dirty == min_dirty;
                         })});
  }
  if (dirties.size() > 1) {
    plots.push_back({"downtime_vs_dirty", "dirty rate (MiB/s)",
                     series(
                         "dirty", [&](const Point& p) { return sched(p); },
                         [](const Point& p) { return p.dirty / 1048576.0; },
                         [&](const Point& p) {
                           return p.devices == max_dev && p.state == max_state;
                         })});
  }
  if (worker_counts.size() > 1) {
    plots.push_back({"downtime_vs_workers", "worker lcores per daemon",
                     series(
                         "workers", [&](const Point& p) { return sched(p); },
                         [](const Point& p) { return double(p.workers); },
                         [&](const Point& p) {
                           return p.devices == max_dev &&
                                  p.state == max_state && p.dirty == min_dirty;
                         })});
  }
  for (const auto& pl : plots) {
    for (const char* term : {"svg size 800,500", "png size 800,500"}) {
      const std::string ext = std::string(term).substr(0, 3);
      const std::string script = absl::StrCat(
          "set terminal ", term, "\nset output '", dir, "/", pl.name, ".", ext,
          "'\nset title 'vmigd downtime (verified migrations between two "
          "daemons)'\n"
          "set xlabel '",
          pl.xlabel,
          "'\nset ylabel 'downtime (ms)'\nset yrange [0:*]\nset key top left\n"
          "set grid\nplot ",
          pl.plot, "\n");
      const std::string path = absl::StrCat(dir, "/", pl.name, ".gp");
      std::ofstream(path) << script;
      if (std::system(absl::StrCat("gnuplot ", path, " 2>/dev/null").c_str()) !=
          0) {
        std::printf("gnuplot failed on %s\n", path.c_str());
      }
    }
    std::printf("plot %s/%s.{svg,png}\n", dir.c_str(), pl.name.c_str());
  }
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
      {"--preset", ""}};
  if (int rc = ParseOptions(args, "sweep", kSweepUsage, opt); rc >= 0)
    return rc;
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
  for (size_t k = 0; k < pts.size(); ++k) {
    Progress(k, pts.size(), start);
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
    // A sweep measures every point, those past their budget too (the
    // report says which were met).
    req.set_allow_budget_overrun(true);
    req.set_serial_schedule(p.serial);
    auto out = pair->Migrate(ids, specs, req);
    if (!out.ok()) {
      std::fprintf(stderr, "\npoint %zu failed: %s\n", k,
                   std::string(out.status().message()).c_str());
      all_verified = false;
      continue;
    }
    const auto& r = out->source.report();
    p.downtime_ms = ToMillis(r.downtime());
    p.predicted_ms = ToMillis(r.predicted());
    p.quiesce_ms = ToMillis(r.quiesce());
    p.transfer_ms = ToMillis(r.stop_copy_transfer());
    p.load_ms = ToMillis(r.destination_load());
    p.resume_ms = ToMillis(r.resume());
    p.total_s = out->total_seconds;
    p.cpu_s = out->cpu_seconds;
    p.bytes = out->bytes;
    p.precopy_rounds = r.precopy_rounds();
    p.retransmits = r.retransmitted_frames();
    for (const auto& dv : r.devices())
      p.stop_copy_bytes += static_cast<double>(dv.bytes());
    p.stop_copy_bytes /= p.devices;
    p.verified = out->verified;
    all_verified = all_verified && out->verified;
  }
  Progress(pts.size(), pts.size(), start);

  // Calibrate the model's one free parameter, the link rate, on the
  // parallel point that moved the most stop-copy bytes; check it on all the
  // others.
  const Point* cal = nullptr;
  for (const auto& p : pts) {
    if (!p.serial && p.verified && p.base &&
        (!cal ||
         p.stop_copy_bytes * p.devices > cal->stop_copy_bytes * cal->devices)) {
      cal = &p;
    }
  }
  double link = 0;
  if (cal) {
    const double xfer_s =
        std::max(1e-6, (cal->transfer_ms - 2 * cal->transition_ms) / 1e3);
    link = cal->stop_copy_bytes * cal->devices / xfer_s;
  }
  double err_sum = 0;
  int err_n = 0;
  for (auto& p : pts) {
    if (!p.verified || link <= 0) continue;
    p.model_ms = ModelDowntimeMs(p.devices, p.stop_copy_bytes, p.read_bw,
                                 p.transition_ms, link, p.serial, p.dirty > 0);
    // The check covers the points like the calibration's (same workers);
    // the others get a projection, shown but not scored.
    if (&p != cal && p.workers == cal->workers) {
      err_sum += std::fabs(p.model_ms - p.downtime_ms) / p.downtime_ms;
      ++err_n;
    }
  }

  // Outputs.
  const std::string dir = opt["--out"];
  std::ofstream csv(dir + "/sweep.csv");
  csv << "devices,state_bytes,dirty_bytes_per_s,read_bytes_per_s,transition_"
         "ms,budget_ms,workers,schedule,downtime_ms,predicted_ms,model_ms,"
         "quiesce_ms,stop_copy_ms,load_ms,resume_ms,total_s,cpu_s,bytes,"
         "stop_copy_bytes_per_device,throughput_gbytes_per_s,precopy_rounds,"
         "retransmits,verified\n";
  std::ofstream json(dir + "/sweep.json");
  json << "{\"calibrated_link_gbytes_per_s\":" << link / 1e9
       << ",\"model_mean_abs_error\":" << (err_n ? err_sum / err_n : 0)
       << ",\"points\":[";
  std::printf("\n%8s %10s %10s %11s %6s %7s %3s %9s %10s %10s %10s %9s %6s\n",
              "devices", "state", "dirty", "read", "arc", "budget", "wk",
              "schedule", "downtime", "predicted", "model", "total", "ok");
  for (size_t k = 0; k < pts.size(); ++k) {
    const Point& p = pts[k];
    const double thr = p.transfer_ms > 0 ? p.stop_copy_bytes * p.devices /
                                               (p.transfer_ms / 1e3)
                                         : 0;
    csv << p.devices << "," << p.state << "," << p.dirty << "," << p.read_bw
        << "," << p.transition_ms << "," << p.budget_ms << "," << p.workers
        << "," << (p.serial ? "serial" : "parallel") << "," << p.downtime_ms
        << "," << p.predicted_ms << "," << p.model_ms << "," << p.quiesce_ms
        << "," << p.transfer_ms << "," << p.load_ms << "," << p.resume_ms << ","
        << p.total_s << "," << p.cpu_s << "," << p.bytes << ","
        << p.stop_copy_bytes << "," << thr / 1e9 << "," << p.precopy_rounds
        << "," << p.retransmits << "," << (p.verified ? "true" : "false")
        << "\n";
    json << (k ? "," : "") << "{\"devices\":" << p.devices
         << ",\"state_bytes\":" << p.state
         << ",\"dirty_bytes_per_s\":" << p.dirty
         << ",\"read_bytes_per_s\":" << p.read_bw
         << ",\"transition_ms\":" << p.transition_ms
         << ",\"budget_ms\":" << p.budget_ms << ",\"workers\":" << p.workers
         << ",\"schedule\":\"" << (p.serial ? "serial" : "parallel")
         << "\",\"downtime_ms\":" << p.downtime_ms
         << ",\"predicted_ms\":" << p.predicted_ms
         << ",\"model_ms\":" << p.model_ms << ",\"quiesce_ms\":" << p.quiesce_ms
         << ",\"stop_copy_ms\":" << p.transfer_ms
         << ",\"load_ms\":" << p.load_ms << ",\"resume_ms\":" << p.resume_ms
         << ",\"total_s\":" << p.total_s << ",\"cpu_s\":" << p.cpu_s
         << ",\"bytes\":" << p.bytes
         << ",\"precopy_rounds\":" << p.precopy_rounds
         << ",\"retransmits\":" << p.retransmits
         << ",\"verified\":" << (p.verified ? "true" : "false") << "}";
    std::printf(
        "%8d %10s %10s %11s %4.0fms %5.0fms %3d %9s %8.1fms %8.1fms %8.1fms "
        "%8.2fs %6s\n",
        p.devices, FormatBytes(p.state).c_str(), FormatRate(p.dirty).c_str(),
        FormatRate(p.read_bw).c_str(), p.transition_ms, p.budget_ms, p.workers,
        p.serial ? "serial" : "parallel", p.downtime_ms, p.predicted_ms,
        p.model_ms, p.total_s, p.verified ? "yes" : "NO");
  }
  json << "]}\n";

  // The budget table: per (budget, workers, device read rate and arc time,
  // devices, dirty), the largest state per device whose measured parallel
  // downtime held the budget.
  std::ofstream budget(dir + "/budget.txt");
  auto line = [&](const std::string& s) {
    budget << s << "\n";
    std::printf("%s\n", s.c_str());
  };
  line(
      "\nbudget table: largest state per device that held the budget "
      "(parallel schedule, measured)");
  line(absl::StrFormat("%8s %7s %11s %6s %8s %12s %24s", "budget", "workers",
                       "read", "arc", "devices", "dirty", "max state/device"));
  using Key = std::tuple<double, int, double, double, int, double>;
  std::map<Key, uint64_t> best;
  for (const auto& p : pts) {
    auto& b = best[{p.budget_ms, p.workers, p.read_bw, p.transition_ms,
                    p.devices, p.dirty}];
    if (!p.serial && p.verified && p.downtime_ms <= p.budget_ms)
      b = std::max(b, p.state);
  }
  for (const auto& [k, v] : best) {
    const auto& [bud, wk, rd, arc, dev, dirty] = k;
    line(absl::StrFormat("%6.0fms %7d %11s %4.0fms %8d %12s %24s", bud, wk,
                         FormatRate(rd), arc, dev, FormatRate(dirty),
                         v ? FormatBytes(v) : std::string("none in the grid")));
  }
  std::printf(
      "\nmodel: link %s calibrated on the largest parallel point; mean |error| "
      "on the "
      "other %d points: %.1f%%\n",
      FormatRate(link).c_str(), err_n, err_n ? 100 * err_sum / err_n : 0);
  std::printf(
      "per-core data-plane rate (one worker lcore each side): %.2f GB/s -> "
      "`vmig-bench model --per-core %.2f ...` projects other machines\n",
      link / 1e9, link / 1e9);
  if (anchor) {
    double par = 0, ser = 0;
    for (const auto& p : pts) (p.serial ? ser : par) = p.downtime_ms;
    std::printf(
        "\nQEMU anchor (4 x ~100 MiB VFs): published serial 1900 ms, multifd "
        "1095 ms\n"
        "vmigd here:                    serial %.0f ms (set to match), "
        "parallel "
        "lockstep %.0f ms (%.2fx QEMU multifd)\n",
        ser, par, par / 1095.0);
    json.close();
    std::ofstream(dir + "/anchor.json")
        << "{\"qemu_serial_ms\":1900,\"qemu_multifd_ms\":1095,\"vmigd_serial_"
           "ms\":"
        << ser << ",\"vmigd_parallel_ms\":" << par << "}\n";
  }
  WritePlots(dir, pts);
  std::printf("wrote %s/sweep.json, sweep.csv, budget.txt\n", dir.c_str());
  return all_verified ? 0 : 1;
}

int RunModel(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {
      {"--per-core", ""},       {"--cores", "1"},    {"--link-gbit", "100"},
      {"--devices", "8"},       {"--state", "1GiB"}, {"--read-bw", "4GiB/s"},
      {"--transition-ms", "10"}};
  if (int rc = ParseOptions(args, "model", kModelUsage, opt); rc >= 0)
    return rc;
  double per_core = 0, cores = 0, gbit = 0, t = 0;
  int n = 0;
  auto state = ParseBytes(opt["--state"]);
  auto read = ParseRate(opt["--read-bw"]);
  if (!absl::SimpleAtod(opt["--per-core"], &per_core) || per_core <= 0 ||
      !absl::SimpleAtod(opt["--cores"], &cores) ||
      !absl::SimpleAtod(opt["--link-gbit"], &gbit) ||
      !absl::SimpleAtoi(opt["--devices"], &n) || !state.ok() || !read.ok() ||
      !absl::SimpleAtod(opt["--transition-ms"], &t)) {
    std::cerr << kModelUsage;
    return 2;
  }
  const double link = std::min(gbit * 1e9 / 8, cores * per_core * 1e9);
  const double par = ModelDowntimeMs(n, static_cast<double>(*state), *read, t,
                                     link, false, false);
  const double ser = ModelDowntimeMs(n, static_cast<double>(*state), *read, t,
                                     link, true, false);
  std::printf(
      "%d devices x %s stop-copy state, read %s, %.0f ms arcs, %.0f Gbit/s "
      "link, "
      "%.0f core(s) at %.2f GB/s: effective %s\n",
      n, FormatBytes(static_cast<double>(*state)).c_str(),
      FormatRate(*read).c_str(), t, gbit, cores, per_core,
      FormatRate(link).c_str());
  std::printf("predicted downtime: parallel lockstep %.1f ms, serial %.1f ms\n",
              par, ser);
  std::printf(
      "{\"parallel_ms\":%.2f,\"serial_ms\":%.2f,\"link_bytes_per_s\":%.0f}\n",
      par, ser, link);
  return 0;
}

}  // namespace vmig::bench
