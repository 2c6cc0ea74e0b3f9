#include "bench/evacuate_series.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace vmig::bench {

// Rates over time: each session's (device bytes, 0.5 s windows) in the
// uncapped and the capped run, and the capped source's wire rate (1 s
// windows) against its cap; gnuplot draws them when it is installed.
void WriteSeries(const std::string& dir, const std::vector<RunResult>& runs,
                 uint64_t cap, const nlohmann::json& j) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/evacuate.json") << j.dump(2) << "\n";
  auto rate = [](const std::vector<std::pair<double, uint64_t>>& v, size_t k,
                 size_t w) {
    if (k < w || k >= v.size()) return 0.0;
    const double dt = v[k].first - v[k - w].first;
    return dt > 0 ? static_cast<double>(v[k].second - v[k - w].second) / dt
                  : 0.0;
  };
  for (const RunResult& r : {runs[1], runs[2]}) {
    std::ofstream out(dir + "/" + r.name + "_sessions.dat");
    for (size_t k = 10; k < r.wire.size(); ++k) {
      out << r.wire[k].first;
      for (const SessionRun& s : r.sessions)
        out << " " << rate(s.bytes, k, 10) / 1e6;
      out << "\n";
    }
  }
  {
    std::ofstream out(dir + "/capped_wire.dat");
    const RunResult& r = runs[2];
    for (size_t k = 20; k < r.wire.size(); ++k)
      out << r.wire[k].first << " " << rate(r.wire, k, 20) / 1e6 << " "
          << static_cast<double>(cap) / 1e6 << "\n";
  }
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::printf("gnuplot not found: no plots (apt-get install gnuplot-nox)\n");
    return;
  }
  std::string script =
      "set terminal svg size 800,420 dynamic noenhanced font 'sans,11'\n"
      "set xlabel 'seconds'\nset ylabel 'MB/s'\nset key outside right\n";
  for (const RunResult& r : {runs[1], runs[2]}) {
    absl::StrAppend(&script, "set output '", dir, "/", r.name,
                    "_sessions.svg'\nset title '", r.name,
                    ": device rate of each session (0.5 s windows)'\nplot ");
    for (size_t i = 0; i < r.sessions.size(); ++i) {
      absl::StrAppend(&script, i ? ", " : "", "'", dir, "/", r.name,
                      "_sessions.dat' using 1:", i + 2, " with lines title '",
                      r.sessions[i].id, r.sessions[i].killed ? " (killed)" : "",
                      "'");
    }
    absl::StrAppend(&script, "\n");
  }
  absl::StrAppend(&script, "set output '", dir,
                  "/capped_wire.svg'\nset title 'capped source on the wire "
                  "(bridge counters, 1 s windows)'\n",
                  "plot '", dir, "/capped_wire.dat' using 1:2 with lines ",
                  "title 'on the wire', '", dir,
                  "/capped_wire.dat' using 1:3 with lines dashtype 2 title "
                  "'dataplane.ports.max_rate'\n");
  const std::string file = dir + "/plots.gp";
  std::ofstream(file) << script;
  if (std::system(("gnuplot " + file).c_str()) != 0)
    std::printf("gnuplot failed on %s\n", file.c_str());
}

}  // namespace vmig::bench
