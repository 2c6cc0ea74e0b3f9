#include "cli/fsm_command.h"

#include "absl/strings/match.h"
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
  std::string flags_text = "stop_copy,p2p,pre_copy";
  std::vector<std::string> positional;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      out << kFsmUsage;
      return 0;
    }
    if (a == "--flags") {
      if (i + 1 >= args.size()) {
        err << "vmigctl fsm path: --flags needs a value\n";
        return 2;
      }
      flags_text = args[++i];
    } else if (absl::StartsWith(a, "--flags=")) {
      flags_text = a.substr(8);
    } else if (absl::StartsWith(a, "-") && a.size() > 1) {
      err << "vmigctl fsm path: unknown option '" << a << "'\n" << kFsmUsage;
      return 2;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) {
    err << "vmigctl fsm path: expected FROM and TO\n" << kFsmUsage;
    return 2;
  }
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
