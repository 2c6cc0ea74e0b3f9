// vmigctl's subcommands that talk to a daemon. Each returns the exit code:
// 0 success, 1 the operation failed, 2 usage error.
#ifndef VMIGD_CONTROL_CLI_COMMANDS_H_
#define VMIGD_CONTROL_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "control/cli/client.h"

namespace vmig::cli {

int RunDeviceCommand(const GlobalOptions& g, std::vector<std::string> args);
int RunMigrateCommand(const GlobalOptions& g, std::vector<std::string> args);
int RunHealthCommand(const GlobalOptions& g, std::vector<std::string> args);
int RunDataplaneCommand(const GlobalOptions& g, std::vector<std::string> args);

}  // namespace vmig::cli

#endif  // VMIGD_CONTROL_CLI_COMMANDS_H_
