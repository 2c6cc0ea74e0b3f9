// vmig-bench: end-to-end measurements of vmigd.
#include <iostream>
#include <string>
#include <vector>

#include "bench/contention_command.h"
#include "bench/downtime_command.h"
#include "bench/predict_command.h"
#include "bench/roundtrip_command.h"
#include "bench/soak_command.h"
#include "bench/sweep_command.h"
#include "bench/transport_command.h"
#include "bench/transport_node.h"

namespace {

constexpr char kUsage[] =
    "usage: vmig-bench COMMAND [ARGS...]\n"
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
    "  sweep       downtime over a grid of migrations: JSON, CSV, budget "
    "table,\n"
    "              plots, a calibrated model; --preset qemu-anchor\n"
    "  model       project downtime onto other machines with that model\n"
    "  contention  the transport with and without a CPU hog on every core\n"
    "  soak        hundreds of migrations under random faults: each verified\n"
    "              or rolled back intact, resources flat\n"
    "\n"
    "Run 'vmig-bench COMMAND --help' for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return 0;
  }
  if (args[0] == "roundtrip") return vmig::bench::RunRoundtrip(rest);
  if (args[0] == "transport") return vmig::bench::RunTransportBench(rest);
  if (args[0] == "downtime") return vmig::bench::RunDowntimeBench(rest);
  if (args[0] == "predict") return vmig::bench::RunPredict(rest);
  if (args[0] == "sweep") return vmig::bench::RunSweep(rest);
  if (args[0] == "model") return vmig::bench::RunModel(rest);
  if (args[0] == "soak") return vmig::bench::RunSoak(rest);
  if (args[0] == "contention") return vmig::bench::RunContention(rest);
  // The processes `transport` starts.
  if (args[0] == "transport-node") return vmig::bench::RunTransportNode(rest);
  std::cerr << "vmig-bench: unknown command '" << args[0] << "'\n" << kUsage;
  return 2;
}
