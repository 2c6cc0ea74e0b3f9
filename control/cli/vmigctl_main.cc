// vmigctl: the operator's command line for vmigd. Global options are taken
// wherever they stand; each command parses the rest with CLI11
// (cli/command_line.h).
#include <iostream>
#include <string>
#include <vector>

#include "control/cli/client.h"
#include "control/cli/commands.h"
#include "control/cli/fsm_command.h"

namespace {

constexpr char kUsage[] =
    "usage: vmigctl COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  device attach|detach|list|get      devices on the daemon\n"
    "  migrate prepare|start|update|switchover|cancel|resolve|status|list|\n"
    "          watch|wait\n"
    "                                     migration sessions\n"
    "  dataplane status                   data-plane port counters and flows\n"
    "  health [SERVICE]                   grpc.health.v1 check\n"
    "  fsm path [--flags FLAGS] FROM TO   the kernel's arcs from FROM to TO\n"
    "                                     (offline, no daemon)\n"
    "\n"
    "Run 'vmigctl COMMAND --help' for a command's options.\n"
    "Exit codes: 0 success, 1 the operation failed (or the session it\n"
    "shows has FAILED), 2 usage error. vmigctl --version prints the version.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Global options may stand anywhere: before or after the command.
  absl::StatusOr<vmig::cli::GlobalOptions> g =
      vmig::cli::ExtractGlobalOptions(args);
  if (!g.ok()) {
    std::cerr << "vmigctl: " << g.status().message() << "\n";
    return 2;
  }
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "--version" || cmd == "version") {
    std::cout << "vmigctl " << VMIG_VERSION << "\n";
    return 0;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage << "\n" << vmig::cli::kGlobalOptionsHelp;
    return 0;
  }
  if (cmd == "fsm") return vmig::cli::RunFsmCommand(rest, std::cout, std::cerr);
  if (cmd == "device") return vmig::cli::RunDeviceCommand(*g, rest);
  if (cmd == "migrate") return vmig::cli::RunMigrateCommand(*g, rest);
  if (cmd == "health") return vmig::cli::RunHealthCommand(*g, rest);
  if (cmd == "dataplane") return vmig::cli::RunDataplaneCommand(*g, rest);
  if (cmd.size() > 1 && cmd[0] == '-') {
    std::cerr << "vmigctl: unknown option " << cmd << "\n"
              << "Run 'vmigctl --help' for the commands and options.\n";
    return 2;
  }
  std::cerr << "vmigctl: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
