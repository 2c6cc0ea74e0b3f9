// The runs of `vmig-bench evacuate`: what each session and each source
// host did over time, what the judge made of it, and the rates over time
// written out with their plots (--out).
#ifndef VMIGD_BENCH_EVACUATE_SERIES_H_
#define VMIGD_BENCH_EVACUATE_SERIES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"
#include "vmig/v1/migration.pb.h"

namespace vmig::bench {

struct SessionRun {
  SessionRun(std::string i, std::string s, std::string d, std::string dev)
      : id(std::move(i)),
        source(std::move(s)),
        dest(std::move(d)),
        device(std::move(dev)) {}
  std::string id, source, dest, device;
  bool killed = false;  // its destination is killed mid-way
  // Samples: time (s since the run began), source bytes, phase.
  std::vector<std::pair<double, uint64_t>> bytes;
  std::vector<v1::Phase> phases;
  v1::Session end;
};

struct RunResult {
  std::string name;
  std::vector<SessionRun> sessions;
  std::vector<std::pair<double, uint64_t>> wire;  // the source host's bytes
  // Whether each sample's wire counter was read: a read that failed (a
  // shell in the bridge's namespace, on a loaded host) is no figure, and
  // its zero must not count as one.
  std::vector<bool> wire_read;
  // The source daemon's sender passes that a cap held back, at each sample
  // (DataplaneStatus): a window is the cap's only if the cap held senders
  // back all through it.
  std::vector<uint64_t> cap_waits;
  double jain = 0, aggregate = 0;
  // The cap (see JudgeCap): the worst window's excess, the shortfall while
  // the cap held, the worst window's shortfall, the larger of the first
  // two, and how long the cap held.
  double cap_over = 0, cap_under = 0, cap_worst_under = 0, cap_error = 0;
  double cap_held_seconds = 0;
  int cap_windows = 0;
  int completed = 0, verified = 0, budgets_missed = 0, refused = 0, failed = 0,
      killed_rolled_back = 0, killed = 0;
};

// Writes DIR/evacuate.json (`j`), the rates over time (.dat) and, with
// gnuplot, their plots (.svg): each session's device rate in the uncapped
// (runs[1]) and the capped run (runs[2]), and the capped source's rate on
// the wire against `cap`.
void WriteSeries(const std::string& dir, const std::vector<RunResult>& runs,
                 uint64_t cap, const nlohmann::json& j);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_EVACUATE_SERIES_H_
