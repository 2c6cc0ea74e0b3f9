// vmig-bench soak: hundreds of migrations back to back between two daemons
// whose data planes lose, duplicate, reorder and corrupt frames, with a
// fault drawn at random for each migration (a cancel at a random moment, a
// device arc that fails on either side, the destination daemon killed or
// stopped and started again). Every migration must end verified or rolled
// back with the source intact, and the daemons' memory, threads, fds and
// mappings must stay flat from the first tens of migrations to the last.
#include "bench/soak_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/daemon_pair.h"
#include "bench/options.h"
#include "bench/soak_judge.h"
#include "nlohmann/json.hpp"

namespace vmig::bench {
namespace {

constexpr char kUsage[] =
    "usage: vmig-bench soak [--migrations N] [--seed S] [--devices K]\n"
    "                       [--state SIZE] [--loss P] [--dup P] [--reorder P]\n"
    "                       [--corrupt P] [--cancel P] [--fail-arc P]\n"
    "                       [--restart P] [--vmigd PATH]\n\n"
    "Migrates K emulated devices (half with PRE_COPY) N times between two\n"
    "fresh vmigd daemons over memif. Both data planes inject frame faults\n"
    "(dataplane.inject_faults: --loss, --dup, --reorder, --corrupt). Each\n"
    "migration also draws one fault: the destination daemon restarted\n"
    "(killed or stopped) while the session waits in pre-copy (--restart; in\n"
    "the first half of a soak of 160 or more, so that its last life can be\n"
    "judged),\n"
    "a device arc that fails on the source or the destination (--fail-arc),\n"
    "or a cancel at a random moment (--cancel); the rest run clean.\n"
    "Pass: every migration ends, every completed one verified, every other\n"
    "one with its source devices RUNNING and intact, no device left held,\n"
    "and each daemon's memory, threads, fds and mappings flat between\n"
    "the 20 migrations at mid-life and the last 20. Last line: JSON.\n"
    "Defaults: --migrations 300 --seed 1 --devices 2 --state 8MiB --loss\n"
    "0.002 --dup 0.002 --reorder 0.002 --corrupt 0.001 --cancel 0.15\n"
    "--fail-arc 0.1 --restart 0.02\n";

enum class Fault { kNone, kCancel, kFailArc, kRestart };

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kNone:
      return "none";
    case Fault::kCancel:
      return "cancel";
    case Fault::kFailArc:
      return "fail-arc";
    case Fault::kRestart:
      return "restart";
  }
  return "?";
}

struct Options {
  int migrations = 300, devices = 2;
  uint64_t seed = 1;
  std::string state = "8MiB";
  double loss = 0.002, dup = 0.002, reorder = 0.002, corrupt = 0.001;
  double cancel = 0.15, fail_arc = 0.1, restart = 0.02;
  std::string vmigd;
};

int Usage(const std::string& why) {
  std::fprintf(stderr, "soak: %s\n", why.c_str());
  return 2;
}

int Parse(const std::vector<std::string>& args, Options& o) {
  o.vmigd = FindVmigd();
  std::map<std::string, std::string> opt = {
      {"--migrations", absl::StrCat(o.migrations)},
      {"--devices", absl::StrCat(o.devices)},
      {"--seed", absl::StrCat(o.seed)},
      {"--state", o.state},
      {"--loss", absl::StrCat(o.loss)},
      {"--dup", absl::StrCat(o.dup)},
      {"--reorder", absl::StrCat(o.reorder)},
      {"--corrupt", absl::StrCat(o.corrupt)},
      {"--cancel", absl::StrCat(o.cancel)},
      {"--fail-arc", absl::StrCat(o.fail_arc)},
      {"--restart", absl::StrCat(o.restart)},
      {"--vmigd", o.vmigd}};
  if (int rc = ParseOptions(args, "soak", kUsage, opt); rc >= 0) return rc;
  auto bad = [&](const std::string& k) {
    return Usage(absl::StrCat("bad value for ", k, ": ", opt[k]));
  };
  auto prob = [&](const std::string& k, double* p) {
    return absl::SimpleAtod(opt[k], p) && *p >= 0 && *p <= 1;
  };
  if (!absl::SimpleAtoi(opt["--migrations"], &o.migrations) ||
      o.migrations < 1 || o.migrations > 100000)
    return bad("--migrations");
  if (!absl::SimpleAtoi(opt["--devices"], &o.devices) || o.devices < 1 ||
      o.devices > 16)
    return bad("--devices");
  if (!absl::SimpleAtoi(opt["--seed"], &o.seed)) return bad("--seed");
  o.state = opt["--state"];
  o.vmigd = opt["--vmigd"];
  const std::pair<const char*, double*> probs[] = {
      {"--loss", &o.loss},       {"--dup", &o.dup},
      {"--reorder", &o.reorder}, {"--corrupt", &o.corrupt},
      {"--cancel", &o.cancel},   {"--fail-arc", &o.fail_arc},
      {"--restart", &o.restart}};
  for (const auto& [k, p] : probs) {
    if (!prob(k, p)) return bad(k);
  }
  if (o.cancel + o.fail_arc + o.restart > 1)
    return Usage("--cancel, --fail-arc and --restart add up to more than 1");
  return -1;
}

// One migration's plan: its devices and its fault.
struct Plan {
  Fault fault = Fault::kNone;
  std::vector<std::string> ids, specs, dest_specs;
  std::string arc;  // kFailArc: "source dev1 PRE_COPY_P2P>STOP_COPY"
  // A destination arc taken after the commit's load: with more than one
  // device, others may run first, and the session fails committed.
  bool arc_after_commit = false;
  double cancel_ms = 0;   // kCancel: when, after the start
  double restart_ms = 0;  // kRestart: how long after READY
  bool restart_kill = false;
};

Plan Draw(const Options& o, int n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  Plan p;
  const double x = u(rng);
  // In a long soak the destination restarts in the first half only, so
  // that its last life is long enough to judge its resources by.
  const bool may_restart = o.migrations < 160 || n < o.migrations / 2;
  p.fault = x < o.restart && may_restart            ? Fault::kRestart
            : x < o.restart                         ? Fault::kNone
            : x < o.restart + o.fail_arc            ? Fault::kFailArc
            : x < o.restart + o.fail_arc + o.cancel ? Fault::kCancel
                                                    : Fault::kNone;
  // The arcs each side takes (docs/architecture.md): a PRE_COPY device
  // RUNNING > PRE_COPY > PRE_COPY_P2P > STOP_COPY > STOP; one without
  // RUNNING > RUNNING_P2P > STOP > STOP_COPY > STOP; a destination device
  // STOP > RESUMING > STOP > RUNNING_P2P > RUNNING.
  const char* precopy_arcs[] = {"RUNNING>PRE_COPY", "PRE_COPY>PRE_COPY_P2P",
                                "PRE_COPY_P2P>STOP_COPY"};
  const char* stop_arcs[] = {"RUNNING>RUNNING_P2P", "RUNNING_P2P>STOP",
                             "STOP>STOP_COPY"};
  const char* dest_arcs[] = {"RESUMING>STOP", "STOP>RUNNING_P2P"};
  const int victim = static_cast<int>(rng() % o.devices);
  const bool on_destination = p.fault == Fault::kFailArc && rng() % 3 == 0;
  for (int i = 0; i < o.devices; ++i) {
    const bool precopy = i % 2 == 0;
    const std::string flags =
        precopy ? "stop_copy|p2p|pre_copy" : "stop_copy|p2p";
    std::string spec =
        absl::StrCat("emu:state=", o.state, ",flags=", flags,
                     ",read_bw=512MiB/s,transition_ms=1,seed=", n * 16 + i + 1);
    std::string dest = absl::StrCat("emu:state=", o.state, ",flags=", flags,
                                    ",seed=", 5000 + i);
    if (p.fault == Fault::kFailArc && i == victim) {
      const char* arc = on_destination ? dest_arcs[rng() % 2]
                        : precopy      ? precopy_arcs[rng() % 3]
                                       : stop_arcs[rng() % 3];
      absl::StrAppend(on_destination ? &dest : &spec, ",fail_arc=", arc);
      p.arc_after_commit =
          on_destination && std::string(arc) != "RESUMING>STOP";
      p.arc = absl::StrCat(on_destination ? "destination" : "source", " d", i,
                           " ", arc);
    }
    p.ids.push_back(absl::StrCat("s", n, "d", i));
    p.specs.push_back(spec);
    p.dest_specs.push_back(dest);
  }
  p.cancel_ms = u(rng) * 400;
  p.restart_ms = u(rng) * 200;
  p.restart_kill = rng() % 2 == 0;
  return p;
}

}  // namespace

int RunSoak(const std::vector<std::string>& args) {
  Options o;
  if (int rc = Parse(args, o); rc >= 0) return rc;
  PairOptions po;
  po.zero_copy = false;  // a copy-mode client redials a restarted server
  po.state_dirs = true;  // a restarted destination recovers its journal
  po.dataplane_extra =
      absl::StrCat("inject_faults { drop: ", o.loss, " duplicate: ", o.dup,
                   " reorder: ", o.reorder, " corrupt: ", o.corrupt,
                   " seed: ", o.seed, " }");
  auto started = DaemonPair::Start(o.vmigd, po);
  if (!started.ok()) {
    std::fprintf(stderr, "soak: %s\n",
                 std::string(started.status().message()).c_str());
    return 1;
  }
  DaemonPair& pair = **started;
  std::mt19937_64 rng(o.seed);
  SoakTally tally;
  std::vector<ResourceSample> samples;
  int destination_generation = 0, restart_failures = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int n = 0; n < o.migrations; ++n) {
    const Plan plan = Draw(o, n, rng);
    v1::StartMigrationRequest req;
    req.mutable_downtime_budget()->set_seconds(10);
    req.mutable_precopy()->mutable_max_precopy()->set_seconds(30);
    req.set_switchover_mode(plan.fault == Fault::kRestart
                                ? v1::SWITCHOVER_MODE_MANUAL
                                : v1::SWITCHOVER_MODE_AUTO);
    MigrateOptions mo;
    mo.dest_specs = plan.dest_specs;
    mo.accept_failure = true;
    // Both outlive the calls below that capture them (Migrate runs the
    // hooks and returns before they go).
    std::string during_note;
    bool stopped = false;
    if (plan.fault == Fault::kCancel) {
      mo.during = [&](const std::string& session) {
        std::this_thread::sleep_for(
            std::chrono::microseconds(static_cast<int>(plan.cancel_ms * 1e3)));
        const grpc::Status st = pair.Cancel(session);
        during_note = st.ok() ? "cancelled"
                              : absl::StrCat("cancel refused: ",
                                             st.error_message().substr(0, 80));
      };
    } else if (plan.fault == Fault::kRestart) {
      mo.during = [&](const std::string& session) {
        // Waits for pre-copy to drain (an idle link: see PairOptions).
        for (int i = 0; i < 3000; ++i) {
          const v1::Phase ph = pair.SessionOf(session, true).phase();
          if (ph == v1::PHASE_READY) break;
          if (ph == v1::PHASE_FAILED || ph == v1::PHASE_CANCELLED) return;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        std::this_thread::sleep_for(
            std::chrono::microseconds(static_cast<int>(plan.restart_ms * 1e3)));
        pair.StopDestination(plan.restart_kill);
        stopped = true;
      };
      mo.after_end = [&](const std::string&) {
        if (!stopped) {
          during_note = "the session ended before the restart";
          return;
        }
        const absl::Status st = pair.StartDestinationAgain();
        ++destination_generation;
        during_note = st.ok() ? (plan.restart_kill ? "destination killed and "
                                                     "restarted"
                                                   : "destination stopped and "
                                                     "restarted")
                              : absl::StrCat("RESTART FAILED: ", st.message());
        if (!st.ok()) ++restart_failures;
      };
    }
    auto out = pair.Migrate(plan.ids, plan.specs, req, mo);
    SoakRecord r;
    r.index = n;
    r.fault = FaultName(plan.fault);
    r.detail = plan.fault == Fault::kFailArc ? plan.arc : during_note;
    if (!out.ok()) {
      r.error = std::string(out.status().message());
    } else {
      r.phase = v1::Phase_Name(out->source.phase());
      r.completed = out->completed;
      r.verified = out->verified;
      r.source_intact = out->source_intact;
      r.committed = out->committed;
      r.source_stopped = out->source_stopped;
      r.may_fail_after_commit = plan.arc_after_commit;
      r.why = out->source.error();
    }
    // Nothing may stay behind: every device was detached from both sides.
    for (bool source : {true, false}) {
      for (const std::string& d : pair.AttachedDevices(source))
        r.left_over.push_back(
            absl::StrCat(source ? "source " : "destination ", d));
    }
    if (restart_failures > 0 && r.error.empty())
      r.error = during_note;  // the daemon did not come back
    Judge(plan.fault != Fault::kNone, r, tally);
    std::printf("%4d %-9s %-18s %s%s%s\n", n, r.fault.c_str(),
                r.phase.empty() ? "ERROR" : r.phase.c_str(), r.verdict.c_str(),
                r.detail.empty() ? "" : "; ", r.detail.c_str());
    std::fflush(stdout);
    for (bool source : {true, false}) {
      auto res = pair.Resources(source);
      if (res.ok()) {
        samples.push_back(
            {n, source ? 0 : 1, source ? 0 : destination_generation, *res});
      }
    }
    if (restart_failures > 0) break;  // nothing more can be learned
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const std::vector<FlatnessVerdict> flat = JudgeFlatness(samples);
  bool all_flat = true;
  for (const FlatnessVerdict& v : flat) {
    std::printf("%s\n", v.line.c_str());
    all_flat = all_flat && v.flat;
  }
  const bool pass = tally.Pass() && all_flat;
  std::printf("%s in %.0f s: %s\n", tally.Summary().c_str(), seconds,
              pass ? "PASS" : "FAIL");
  nlohmann::json j = tally.ToJson();
  j["seconds"] = seconds;
  j["flat"] = all_flat;
  j["pass"] = pass;
  nlohmann::json resources = nlohmann::json::array();
  for (const FlatnessVerdict& v : flat) resources.push_back(v.ToJson());
  j["resources"] = resources;
  std::printf("%s\n", j.dump().c_str());
  return pass ? 0 : 1;
}

}  // namespace vmig::bench
