#include "bench/sweep_plots.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/units.h"

namespace vmig::bench {

void WritePlots(const std::string& dir, const std::vector<Point>& pts,
                const std::string& fixed) {
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
  // One data file per (series): columns x, p50, min, max (the error bar
  // spans every repetition).
  auto series = [&](const std::string& name, auto key, auto x, auto keep) {
    std::map<std::string, std::vector<std::array<double, 4>>> s;
    for (const auto& p : pts) {
      // Only the first value of the other dimensions (workers varies on
      // its own plot).
      if (keep(p) && (name == "workers" ? p.base_setup : p.base))
        s[key(p)].push_back({x(p), p.p50(), p.min(), p.max()});
    }
    std::string plot;
    int i = 0;
    for (auto& [label, v] : s) {
      std::sort(v.begin(), v.end());
      const std::string file = absl::StrCat(dir, "/", name, "_", i, ".dat");
      std::ofstream out(file);
      for (const auto& r : v)
        out << r[0] << " " << r[1] << " " << r[2] << " " << r[3] << "\n";
      absl::StrAppend(
          &plot, plot.empty() ? "" : ", ", "'", file,
          "' using 1:2:3:4 with yerrorlines title '", label, " (p50, min-max)'",
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
    bool integer_x = false;
  };
  std::vector<Plot> plots;
  const uint64_t max_state = *states.rbegin();
  const int max_dev = *devices.rbegin();
  const double min_dirty = *dirties.begin();
  if (devices.size() > 1) {
    plots.push_back({"downtime_vs_devices", "devices",
                     series(
                         "devices",
                         [&](const Point& p) {
                           return absl::StrCat(sched(p), " ",
                                               FormatBytes(p.state), "/device");
                         },
                         [](const Point& p) { return double(p.devices); },
                         [&](const Point& p) { return p.dirty == min_dirty; }),
                     true});
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
                         }),
                     true});
  }
  double budget = 0;
  for (const auto& p : pts) {
    if (p.base) budget = p.budget_ms;
  }
  for (const auto& pl : plots) {
    for (const char* term : {"svg size 800,500", "png size 800,500"}) {
      const std::string ext = std::string(term).substr(0, 3);
      const std::string script = absl::StrCat(
          "set terminal ", term, "\nset output '", dir, "/", pl.name, ".", ext,
          "'\nset title \"vmigd downtime, verified migrations between two "
          "daemons\\n",
          fixed,
          "\" noenhanced\n"
          "set xlabel '",
          pl.xlabel,
          "'\nset ylabel 'downtime (ms)'\nset yrange [0:*]\nset key top left\n"
          "set grid\n",
          pl.integer_x ? "set xtics 1\nset mxtics 1\nset format x '%.0f'\n"
                       : "",
          absl::StrFormat(
              "set arrow from graph 0, first %g to graph 1, first %g nohead "
              "dashtype 3 linewidth 2 linecolor rgb 'red'\n"
              "set label 'budget %g ms' at graph 0.02, first %g offset 0,0.7 "
              "textcolor rgb 'red'\n",
              budget, budget, budget, budget),
          "plot ", pl.plot, "\n");
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

}  // namespace vmig::bench
