#include "control/cli/fsm_command.h"

#include "absl/strings/match.h"
#include "common/command_line.h"
#include "vfio/fsm.h"

namespace vmig::cli {
namespace {

constexpr char kFsmUsage[] =
    "usage: vmigctl fsm path [--flags FLAGS] FROM TO\n"
    "\n"
    "Prints the arcs the kernel takes from FROM to TO, in uAPI state names.\n"
    "FLAGS: the device's migration flags, a list of stop_copy, p2p and\n"
    "pre_copy joined by ',' or '|' (default stop_copy,p2p,pre_copy).\n"
    "States: ERROR STOP RUNNING STOP_COPY RESUMING RUNNING_P2P PRE_COPY\n"
    "PRE_COPY_P2P (case-insensitive).\n"
    "Exit: 0 a path was printed; 2 usage error or refused transition.\n";

}  // namespace

int RunFsmCommand(const std::vector<std::string>& args, std::ostream& out,
                  std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" ||
      args[0] == "help") {
    (args.empty() ? err : out) << kFsmUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "path") {
    err << "vmigctl fsm: unknown command '" << args[0] << "'\n" << kFsmUsage;
    return 2;
  }
  CommandLine cl("vmigctl fsm path", kFsmUsage);
  std::string flags_text = "stop_copy,p2p,pre_copy";
  const std::string& given_flags =
      cl.Option("--flags", "the device's migration flags", "FLAGS");
  const std::string& from_text = cl.Positional("FROM", "a device state");
  const std::string& to_text = cl.Positional("TO", "a device state");
  if (int rc = cl.Parse({args.begin() + 1, args.end()}, out, err); rc >= 0)
    return rc;
  if (cl.Given("--flags")) flags_text = given_flags;
  const std::vector<std::string> positional = {from_text, to_text};
  absl::StatusOr<vfio::MigrationFlags> flags =
      vfio::ParseMigrationFlags(flags_text);
  if (!flags.ok()) {
    err << "vmigctl fsm path: " << flags.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<vfio::DeviceState> from =
      vfio::ParseDeviceState(positional[0]);
  absl::StatusOr<vfio::DeviceState> to = vfio::ParseDeviceState(positional[1]);
  for (const auto* s : {&from, &to}) {
    if (!s->ok()) {
      err << "vmigctl fsm path: " << s->status().message() << "\n";
      return 2;
    }
  }
  absl::StatusOr<std::vector<vfio::DeviceState>> path =
      vfio::PlanPath(*flags, *from, *to);
  if (!path.ok()) {
    err << "vmigctl fsm path: " << path.status().message() << "\n";
    return 2;
  }
  out << vfio::FormatPath(*path) << "\n";
  return 0;
}

}  // namespace vmig::cli
