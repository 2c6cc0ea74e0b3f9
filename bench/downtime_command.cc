#include "bench/downtime_command.h"

#include <cstdio>
#include <iostream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/daemon_pair.h"
#include "bench/options.h"
#include "common/units.h"
#include "proto/convert.h"

namespace vmig::bench {
namespace {

constexpr char kUsage[] =
    "usage: vmig-bench downtime [--devices N] [--state SIZE] [--read-bw RATE]\n"
    "                           [--transition-ms MS] [--vmigd PATH]\n"
    "\n"
    "Starts two vmigd daemons joined by memif and migrates N emulated devices\n"
    "(P2P, no PRE_COPY: all their state is stop-copy state) three times:\n"
    "  calibration  devices unthrottled, no transition cost: measures the "
    "link\n"
    "  parallel     the lockstep schedule vmigd uses\n"
    "  serial       one device at a time, transitions one after another (QEMU\n"
    "               without multifd)\n"
    "and compares the parallel downtime with the critical-path lower bound:\n"
    "  6 arcs x transition (3 source, 3 destination, each done in parallel)\n"
    "  + max(state / read rate, N x state / link bandwidth).\n"
    "Defaults: 8 devices, 64MiB, 1GiB/s, 10 ms. Last line: JSON.\n";

}  // namespace

int RunDowntimeBench(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {{"--devices", "8"},
                                            {"--state", "64MiB"},
                                            {"--read-bw", "1GiB/s"},
                                            {"--transition-ms", "10"},
                                            {"--vmigd", FindVmigd()}};
  if (int rc = ParseOptions(args, "downtime", kUsage, opt); rc >= 0) return rc;
  int n = 0;
  double transition_ms = 0;
  auto state = ParseBytes(opt["--state"]);
  auto read_bw = ParseRate(opt["--read-bw"]);
  if (!absl::SimpleAtoi(opt["--devices"], &n) || n < 1 || n > 64 ||
      !state.ok() || !read_bw.ok() || *read_bw <= 0 ||
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
  std::printf("%d devices x %s of stop-copy state, read %s, %.0f ms per arc\n",
              n, FormatBytes(static_cast<double>(*state)).c_str(),
              opt["--read-bw"].c_str(), transition_ms);
  auto cal = run("calibration", false, false);
  auto par = cal.ok() ? run("parallel", true, false) : cal;
  auto ser = par.ok() ? run("serial", true, true) : par;
  if (!ser.ok()) {
    std::cerr << "vmig-bench downtime: " << ser.status().message() << "\n";
    std::printf("{\"verified\":false}\n");
    return 1;
  }
  const double total = static_cast<double>(*state) * n;
  // The link's bandwidth: the best rate any of the runs achieved for the
  // whole stop-copy (the calibration's devices are unthrottled, but on a
  // busy host the throttled run can still be the fastest).
  double link = 0;
  for (const auto* o : {&*cal, &*par}) {
    const auto& r = o->source.report();
    link = std::max(link, total / (ToMillis(r.stop_copy_transfer()) / 1e3));
  }
  const double bound_ms =
      6 * transition_ms +
      std::max(static_cast<double>(*state) / *read_bw, total / link) * 1e3;
  const double down = ToMillis(par->source.report().downtime());
  const double serial = ToMillis(ser->source.report().downtime());
  const bool verified = cal->verified && par->verified && ser->verified;
  std::printf("\nlink bandwidth (best of the runs) %s; lower bound %.1f ms\n",
              FormatRate(link).c_str(), bound_ms);
  std::printf(
      "parallel / lower bound = %.2f (target <= 1.25); serial / parallel = "
      "%.2f "
      "(target >= 3)\n",
      down / bound_ms, serial / down);
  std::printf(
      "{\"downtime_ms\":%.2f,\"lower_bound_ms\":%.2f,\"serial_downtime_ms\":%."
      "2f,"
      "\"verified\":%s,\"link_gbytes_per_s\":%.3f,\"predicted_ms\":%.2f,"
      "\"devices\":%d,\"state_bytes\":%llu,\"read_bytes_per_s\":%.0f,"
      "\"transition_ms\":%.1f}\n",
      down, bound_ms, serial, verified ? "true" : "false", link / 1e9,
      ToMillis(par->source.report().predicted()), n,
      static_cast<unsigned long long>(*state), *read_bw, transition_ms);
  return verified ? 0 : 1;
}

}  // namespace vmig::bench
