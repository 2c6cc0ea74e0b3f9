// vmigctl: the operator's command line for vmigd.
#include <iostream>
#include <string>
#include <vector>

#include "control/fsm_command.h"

namespace {

constexpr char kUsage[] =
    "usage: vmigctl COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  fsm path [--flags FLAGS] FROM TO   the kernel's arcs from FROM to TO\n"
    "\n"
    "Run 'vmigctl COMMAND --help' for a command's options.\n"
    "Exit codes: 0 success, 1 the operation failed, 2 usage error.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "fsm")
    return vmig::control::RunFsmCommand(rest, std::cout, std::cerr);
  std::cerr << "vmigctl: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
