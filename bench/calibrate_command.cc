#include "bench/calibrate_command.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/daemon_pair.h"
#include "bench/options.h"
#include "bench/predict_command.h"
#include "daemon/measures/calibration_file.h"
#include "proto/convert.h"

namespace vmig::bench {
namespace {

constexpr char kUsage[] =
    "usage: vmig-bench calibrate --devices 'SPEC;SPEC...' --out FILE\n"
    "                            [--dest 'SPEC;SPEC...'] [--runs N]\n"
    "                            [--preset predict-small|predict-full]\n"
    "                            [--vmigd PATH]\n\n"
    "Migrates each emulated device (SPEC without the \"emu:\" prefix, as in\n"
    "AttachDevice's emulated_spec) N times (default 3), each time between\n"
    "two fresh local vmigd daemons over memif, into the --dest device of the\n"
    "same place (default: one of its sizes, flags and arcs), and writes the\n"
    "median over the runs of what the daemons measured of each device class\n"
    "(read and write rates, arcs) to FILE\n"
    "(vmig.v1.Calibration, protobuf text) with its provenance: host, CPU,\n"
    "kernel, date, vmigd version, method and the states the devices went\n"
    "through. Only figures a daemon measured itself are written. A kernel\n"
    "class is calibrated by migrating a lent device between two daemons\n"
    "with a state_dir: their history.textproto is in the same format.\n"
    "--preset: the classes of `vmig-bench predict`'s grid (before any\n"
    "--devices).\n"
    "Last line: JSON.\n";

using Measures = v1::DeviceClassMeasures;

// Calls f(get, set, origin) for each figure a calibration file carries.
template <typename F>
void ForEachFigure(F f) {
  using M = Measures;
  f([](const M& x) { return x.read_bytes_per_second(); },
    [](M& x, double v) { x.set_read_bytes_per_second(v); }, &M::read_origin);
  f([](const M& x) { return x.read_floor_bytes_per_second(); },
    [](M& x, double v) { x.set_read_floor_bytes_per_second(v); },
    &M::read_floor_origin);
  f([](const M& x) { return x.write_bytes_per_second(); },
    [](M& x, double v) { x.set_write_bytes_per_second(v); }, &M::write_origin);
  f([](const M& x) { return x.arc_ns(); },
    [](M& x, int64_t v) { x.set_arc_ns(v); }, &M::arc_origin);
}

// One figure from the two daemons' views of a class after one run: a
// daemon's own only; the mean where both measured it.
template <typename Get>
auto Own(const std::vector<Measures>& views, Get get,
         v1::MeasureOrigin (Measures::*origin)() const) {
  using T = decltype(get(views[0]));
  T sum{};
  int n = 0;
  for (const Measures& m : views) {
    if ((m.*origin)() != v1::MEASURE_ORIGIN_HISTORY || get(m) <= T{}) continue;
    sum += get(m);
    ++n;
  }
  return n > 0 ? sum / n : T{};
}

// The median of the runs that measured a figure (zero: none did). A run
// across a host stall (a vCPU taken away for 100 ms) is one odd sample
// among three, not half the figure.
template <typename Get>
auto MedianOfRuns(const std::vector<Measures>& runs, Get get) {
  using T = decltype(get(runs[0]));
  std::vector<T> v;
  for (const Measures& m : runs)
    if (get(m) > T{}) v.push_back(get(m));
  if (v.empty()) return T{};
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// A class's figures from one run's views (zero where no daemon measured).
Measures OneRun(const std::vector<Measures>& views) {
  Measures m;
  ForEachFigure([&](auto get, auto set, auto origin) {
    set(m, Own(views, get, origin));
  });
  return m;
}

// A class's figures over its runs.
Measures Median(const std::string& cls, const std::vector<Measures>& runs) {
  Measures m;
  m.set_device_class(cls);
  ForEachFigure([&](auto get, auto set, auto /*origin*/) {
    set(m, MedianOfRuns(runs, get));
  });
  return m;
}

}  // namespace

int RunCalibrate(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {
      {"--devices", ""}, {"--dest", ""},   {"--out", ""},
      {"--runs", "3"},   {"--preset", ""}, {"--vmigd", FindVmigd()}};
  if (int rc = ParseOptions(args, "calibrate", kUsage, opt); rc >= 0) return rc;
  int runs = 0;
  if (!absl::SimpleAtoi(opt["--runs"], &runs) || runs < 1 || runs > 100) {
    std::fprintf(stderr, "calibrate: --runs takes 1..100\n");
    return 2;
  }
  if ((opt["--devices"].empty() && opt["--preset"].empty()) ||
      opt["--out"].empty()) {
    std::fprintf(stderr,
                 "calibrate: --out and --devices or --preset are required\n%s",
                 kUsage);
    return 2;
  }
  std::vector<std::string> specs, dest;
  if (!opt["--preset"].empty()) {
    if (opt["--preset"] != "predict-small" &&
        opt["--preset"] != "predict-full") {
      std::fprintf(stderr,
                   "calibrate: --preset takes predict-small or predict-full\n");
      return 2;
    }
    // Destinations named only where a class has its own: the others take
    // the default, as predict's do.
    std::vector<std::pair<std::string, std::string>> grid =
        PredictGridClasses(opt["--preset"].substr(8));
    std::stable_partition(grid.begin(), grid.end(),
                          [](const auto& c) { return !c.second.empty(); });
    for (const auto& [src, dst] : grid) {
      specs.push_back(absl::StrCat("emu:", src));
      if (!dst.empty()) dest.push_back(absl::StrCat("emu:", dst));
    }
  }
  for (absl::string_view s : absl::StrSplit(opt["--devices"], ';'))
    if (!s.empty()) specs.push_back(absl::StrCat("emu:", s));
  for (absl::string_view s : absl::StrSplit(opt["--dest"], ';'))
    if (!s.empty()) dest.push_back(absl::StrCat("emu:", s));
  if (dest.size() > specs.size()) {
    std::fprintf(stderr, "calibrate: more --dest specs than --devices\n");
    return 2;
  }
  std::vector<std::string> dest_all;
  bool precopy = false, stop_copy_only = false;
  for (size_t i = 0; i < specs.size(); ++i) {
    absl::StatusOr<vfio::emu::EmuSpec> spec = vfio::emu::ParseEmuSpec(specs[i]);
    if (!spec.ok()) {
      std::fprintf(stderr, "calibrate: --devices: %s\n",
                   std::string(spec.status().message()).c_str());
      return 2;
    }
    (spec->flags.has(vfio::kMigPreCopy) ? precopy : stop_copy_only) = true;
    dest_all.push_back(i < dest.size() ? dest[i] : DestSpecFor(*spec, i));
  }
  // Each class alone, so that its rates are its own and not a share of the
  // link with the others'; each run on a fresh pair, so that what the
  // daemons know after it is that run's measurement alone (a daemon blends
  // its runs: one odd run would move the figure halfway).
  std::map<std::string, std::vector<Measures>> runs_of;
  for (size_t i = 0; i < specs.size(); ++i) {
    for (int run = 0; run < runs; ++run) {
      auto pair = DaemonPair::Start(opt["--vmigd"]);
      if (!pair.ok()) {
        std::fprintf(stderr, "calibrate: %s\n",
                     std::string(pair.status().message()).c_str());
        return 1;
      }
      v1::StartMigrationRequest req;
      // Calibration measures; it does not promise: a budget any device
      // keeps, and pre-copy for as long as it needs.
      ToProto(absl::Seconds(30), req.mutable_downtime_budget());
      req.mutable_precopy()->mutable_max_precopy()->set_seconds(20);
      MigrateOptions mo;
      mo.dest_specs = {dest_all[i]};
      auto out = (*pair)->Migrate({absl::StrCat("cal", i, "r", run)},
                                  {specs[i]}, req, mo);
      if (!out.ok() || !out->verified) {
        std::fprintf(stderr, "calibrate: %s run %d: %s\n", specs[i].c_str(),
                     run + 1,
                     out.ok() ? "the destination's state differs"
                              : std::string(out.status().message()).c_str());
        return 1;
      }
      std::printf("%s run %d: downtime %.1f ms\n", specs[i].c_str(), run + 1,
                  ToMillis(out->source.report().downtime()));
      // The source's device class and the destination's, as each daemon
      // measured it in this run.
      std::map<std::string, std::vector<Measures>> views;
      for (const std::string& s : {specs[i], dest_all[i]}) {
        for (bool on_source : {true, false}) {
          absl::StatusOr<v1::Device> d = (*pair)->DescribeClass(on_source, s);
          if (!d.ok()) {
            std::fprintf(stderr, "calibrate: %s\n",
                         std::string(d.status().message()).c_str());
            return 1;
          }
          views[d->device_class()].push_back(d->measures());
        }
      }
      for (const auto& [cls, v] : views) runs_of[cls].push_back(OneRun(v));
    }
  }
  v1::Calibration cal;
  cal.set_version(daemon::kCalibrationVersion);
  *cal.mutable_provenance() = daemon::MakeProvenance(absl::StrCat(
      "vmig-bench calibrate: the median of ", runs,
      " migrations per class, each between two fresh local vmigd daemons "
      "over memif"));
  // The arcs each device took (the kernel walks RUNNING_P2P -> STOP_COPY
  // through STOP); a source device stays stopped once it has left.
  if (precopy)
    cal.mutable_provenance()->add_states_visited(
        "source, with PRE_COPY: RUNNING PRE_COPY PRE_COPY_P2P STOP_COPY STOP");
  if (stop_copy_only)
    cal.mutable_provenance()->add_states_visited(
        "source, without PRE_COPY: RUNNING RUNNING_P2P STOP STOP_COPY STOP");
  cal.mutable_provenance()->add_states_visited(
      "destination: RUNNING STOP RESUMING STOP RUNNING_P2P RUNNING");
  for (const auto& [cls, v] : runs_of) *cal.add_classes() = Median(cls, v);
  if (absl::Status s = daemon::WriteCalibrationFile(opt["--out"], cal);
      !s.ok()) {
    std::fprintf(stderr, "calibrate: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("{\"classes\":%d,\"runs\":%d,\"out\":\"%s\"}\n",
              cal.classes_size(), runs, opt["--out"].c_str());
  return 0;
}

}  // namespace vmig::bench
