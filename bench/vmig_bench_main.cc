// vmig-bench: end-to-end measurements of vmigd.
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/calibrate_command.h"
#include "bench/contention_command.h"
#include "bench/downtime_command.h"
#include "bench/evacuate_command.h"
#include "bench/predict_command.h"
#include "bench/roundtrip_command.h"
#include "bench/soak_command.h"
#include "bench/survive_command.h"
#include "bench/sweep_command.h"
#include "bench/transport_command.h"
#include "bench/transport_node.h"

namespace {

constexpr char kUsage[] =
    "vmig-bench: end-to-end measurements of vmigd.\n"
    "\n"
    "Commands:\n"
    "  roundtrip   one emulated device migrated into another in-process, "
    "verified\n"
    "  transport   DPDK transport between two processes, verified, next to\n"
    "              memcpy and kernel TCP measured in the same run\n"
    "  downtime    two daemons: lockstep downtime against its lower bound and\n"
    "              the serial schedule, in the same run\n"
    "  predict     the downtime prediction against the measured downtime\n"
    "              over a grid of heterogeneous sessions; budgets checked\n"
    "  calibrate   measure device classes between two daemons and write a\n"
    "              calibration file (the configuration's calibration_file)\n"
    "  sweep       downtime over a grid of migrations: JSON, CSV, budget "
    "table,\n"
    "              plots, a calibrated model; --preset qemu-anchor\n"
    "  model       project downtime onto other machines with that model\n"
    "  contention  the transport with and without a CPU hog on every core\n"
    "  evacuate    many sessions sharing links: caps, fairness, budgets\n"
    "  soak        hundreds of migrations under random faults: each verified\n"
    "              or rolled back intact, resources flat\n"
    "  survive     either memif peer killed at random points, N times: the\n"
    "              survivor lives, the link heals, the first law holds\n"
    "\n"
    "Run 'vmig-bench COMMAND --help' for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  // CLI11 (libcli11-dev) for the command line's first level: --help,
  // --version, the command; each command parses the rest (bench/options.h,
  // CLI11 as well).
  CLI::App app{kUsage, "vmig-bench"};
  app.set_version_flag("--version", std::string("vmig-bench ") + VMIG_VERSION);
  std::string command;
  app.add_option("command", command, "what to measure (above)")
      ->type_name("COMMAND");
  // Everything after COMMAND is the command's (its own --help too): the
  // first level sees only what stands before it.
  int first = argc;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] != '-') {
      first = i + 1;
      break;
    }
  }
  try {
    app.parse(first, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (command.empty()) {
    std::cerr << app.help();
    return 2;
  }
  const std::vector<std::string> rest(argv + first, argv + argc);
  if (command == "roundtrip") return vmig::bench::RunRoundtrip(rest);
  if (command == "transport") return vmig::bench::RunTransportBench(rest);
  if (command == "downtime") return vmig::bench::RunDowntimeBench(rest);
  if (command == "predict") return vmig::bench::RunPredict(rest);
  if (command == "calibrate") return vmig::bench::RunCalibrate(rest);
  if (command == "sweep") return vmig::bench::RunSweep(rest);
  if (command == "model") return vmig::bench::RunModel(rest);
  if (command == "soak") return vmig::bench::RunSoak(rest);
  if (command == "survive") return vmig::bench::RunSurvive(rest);
  if (command == "contention") return vmig::bench::RunContention(rest);
  if (command == "evacuate") return vmig::bench::RunEvacuate(rest);
  // The processes `transport` starts.
  if (command == "transport-node") return vmig::bench::RunTransportNode(rest);
  std::cerr << "vmig-bench: unknown command '" << command << "'\n"
            << "Run 'vmig-bench --help' for the commands.\n";
  return 2;
}
