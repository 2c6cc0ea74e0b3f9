// What a soak judges: each migration's outcome against the first law, and
// whether a daemon's resources stay flat over hundreds of migrations. Apart
// from the soak's loop so that a test can feed it made-up runs.
#ifndef VMIGD_BENCH_SOAK_JUDGE_H_
#define VMIGD_BENCH_SOAK_JUDGE_H_

#include <string>
#include <tuple>
#include <vector>

#include "bench/daemon_pair.h"
#include "nlohmann/json.hpp"

namespace vmig::bench {

// One migration of a soak.
struct SoakRecord {
  int index = 0;
  std::string fault;   // the fault drawn: none, cancel, fail-arc, restart
  std::string detail;  // which arc, whether the cancel landed, ...
  std::string phase;   // the source session's last phase
  std::string why;     // its error
  std::string error;   // the migration could not be run or did not end
  bool completed = false, verified = false, source_intact = false;
  // Failed after the destination committed; every source device stopped.
  bool committed = false, source_stopped = false;
  // The drawn fault may fail a session after its commit (a destination
  // device that fails to resume after others ran).
  bool may_fail_after_commit = false;
  // Devices still attached to either daemon after the migration's detach.
  std::vector<std::string> left_over;
  std::string verdict;  // filled by Judge
};

struct SoakTally {
  int migrations = 0, verified = 0, rolled_back = 0;
  // Failed after the commit, as the drawn fault may: the destination owns
  // the state, every source device stopped.
  int committed_failed = 0;
  // Violations: a completion whose digests differ, a rollback that left a
  // source device stopped or changed, a device still attached, a
  // migration that failed with no fault drawn, one that could not run.
  int unverified = 0, not_intact = 0, left_over = 0, unexplained = 0,
      errors = 0;
  std::vector<std::string> violations;  // the first 20, one line each
  // Outcomes by fault: "cancel" -> {"CANCELLED" -> 3, ...}.
  std::map<std::string, std::map<std::string, int>> by_fault;

  bool Pass() const {
    return migrations > 0 && unverified == 0 && not_intact == 0 &&
           left_over == 0 && unexplained == 0 && errors == 0;
  }
  std::string Summary() const;
  nlohmann::json ToJson() const;
};

// Judges `r` (a fault was drawn for it or not), sets r.verdict, counts it.
void Judge(bool fault_drawn, SoakRecord& r, SoakTally& tally);

struct ResourceSample {
  int migration = 0;
  int daemon = 0;      // 0 the source, 1 the destination
  int generation = 0;  // how many times the daemon was restarted before
  ProcessResources r;
};

struct FlatnessVerdict {
  std::string daemon;
  bool judged = false, flat = true;
  int samples = 0;
  // Medians of the 20 migrations at mid-life and of the last 20.
  ProcessResources early, late;
  // RSS, and its anonymous part, in MiB every tenth migration of the
  // judged life: [index, RSS MiB, anonymous MiB].
  std::vector<std::tuple<int, double, double>> rss_series;
  std::string line;  // what the soak prints
  nlohmann::json ToJson() const;
};

// Per daemon, over its longest run without a restart (at least 80
// migrations, or not judged): the medians of the 20 migrations at its
// mid-life against those of its last 20. The first half is warm-up (pools,
// caches and allocator arenas fill; a restarted daemon takes about a
// hundred migrations); a leak keeps growing through the second. Flat: RSS
// within max(2 MiB, 2%) (a leak of 20 KiB a migration shows within 100),
// threads within 2, fds within 4, mappings within 16.
std::vector<FlatnessVerdict> JudgeFlatness(
    const std::vector<ResourceSample>& samples);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_SOAK_JUDGE_H_
