// `vmigctl fsm path`: asks the FSM planner offline, without a daemon.
#ifndef VMIGD_CONTROL_CLI_FSM_COMMAND_H_
#define VMIGD_CONTROL_CLI_FSM_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace vmig::cli {

// Runs `fsm ...` with the arguments after "fsm". Returns the exit code:
// 0 printed a path, 2 a usage error or a refused transition.
int RunFsmCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err);

}  // namespace vmig::cli

#endif  // VMIGD_CONTROL_CLI_FSM_COMMAND_H_
