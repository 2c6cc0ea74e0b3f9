#include <iostream>
#include <map>

#include "absl/strings/match.h"
#include "common/command_line.h"
#include "control/cli/commands.h"
#include "control/cli/output.h"
#include "vmig/v1/device.grpc.pb.h"

namespace vmig::cli {
namespace {

constexpr char kDeviceUsage[] =
    "usage: vmigctl device COMMAND [ARGS...]\n"
    "\n"
    "  attach NAME --emu SPEC                 an emulated device\n"
    "  attach NAME --cdev /dev/vfio/devices/vfioN\n"
    "  attach NAME --group /dev/vfio/G --device-name 0000:3b:00.1|MDEV-UUID\n"
    "  attach NAME --fd-socket PATH           fd handed over by the VMM\n"
    "  detach NAME\n"
    "  list\n"
    "  get NAME\n";

std::string DeviceName(const std::string& id) {
  return absl::StartsWith(id, "devices/") ? id : "devices/" + id;
}

int Usage(const std::string& why) {
  std::cerr << "vmigctl device: " << why << "\n" << kDeviceUsage;
  return 2;
}

void PrintDevices(const GlobalOptions& g, const std::vector<v1::Device>& devs) {
  if (g.output != "table") {
    v1::ListDevicesResponse r;
    for (const auto& d : devs) *r.add_devices() = d;
    std::cout << Render(g.output, r);
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : devs) rows.push_back(DeviceRow(d));
  PrintTable(std::cout, DeviceHeader(), rows);
}

}  // namespace

int RunDeviceCommand(const GlobalOptions& g, std::vector<std::string> args) {
  if (args.empty()) return Usage("a command is required");
  const std::string cmd = args[0];
  if (cmd == "--help" || cmd == "-h") {
    std::cout << kDeviceUsage << "\n" << kGlobalOptionsHelp;
    return 0;
  }
  static const std::map<std::string, std::string> kHelp = {
      {"attach",
       "Attaches a device to the daemon: an emulated one (--emu SPEC), a\n"
       "kernel VFIO cdev (--cdev), a legacy group and PCI device (--group\n"
       "and --device-name), or an fd the VMM hands over (--fd-socket)."},
      {"detach", "Detaches a device no session uses."},
      {"get",
       "One device: its backend, state, flags and sizes, its class, and\n"
       "what the daemon knows of the class (read and write rates, arc),\n"
       "each with where it came from: history (this daemon measured it),\n"
       "peer (the other daemon of a migration did), calibration (the\n"
       "configuration's calibration_file), or none (a guess)."},
      {"list", "Every device of the daemon."}};
  auto it = kHelp.find(cmd);
  if (it == kHelp.end()) return Usage("unknown command '" + cmd + "'");
  CommandLine cl("vmigctl device " + cmd, it->second, kGlobalOptionsHelp);
  const std::string* name = nullptr;
  if (cmd != "list") name = &cl.Positional("NAME", "the device id");
  const std::string *emu = nullptr, *cdev = nullptr, *group = nullptr,
                    *in_group = nullptr, *fd_socket = nullptr;
  if (cmd == "attach") {
    emu = &cl.Option("--emu", "an emulated device's spec", "SPEC");
    cdev = &cl.Option("--cdev", "/dev/vfio/devices/vfioN", "PATH");
    group = &cl.Option("--group", "/dev/vfio/G", "PATH");
    in_group = &cl.Option("--device-name",
                          "with --group: the device's name in it (a PCI "
                          "address or an mdev's UUID)",
                          "NAME");
    fd_socket =
        &cl.Option("--fd-socket", "where the VMM hands the fd over", "PATH");
  }
  if (int rc = cl.Parse({args.begin() + 1, args.end()}); rc >= 0) return rc;

  std::shared_ptr<grpc::Channel> channel = ChannelOrReport(g);
  if (!channel) return 2;
  auto stub = v1::DeviceService::NewStub(channel);
  grpc::ClientContext ctx;
  SetDeadline(ctx, g);

  if (cmd == "attach") {
    v1::AttachDeviceRequest req;
    const int sources = cl.Given("--emu") + cl.Given("--cdev") +
                        cl.Given("--group") + cl.Given("--fd-socket");
    if (sources != 1)
      return cl.Fail("needs one of --emu, --cdev, --group, --fd-socket");
    if (cl.Given("--device-name") && !cl.Given("--group"))
      return cl.Fail("--device-name goes with --group");
    if (cl.Given("--emu")) {
      req.set_emulated_spec(*emu);
    } else if (cl.Given("--cdev")) {
      req.mutable_kernel()->set_cdev(*cdev);
    } else if (cl.Given("--group")) {
      req.mutable_kernel()->set_group(*group);
      if (cl.Given("--device-name"))
        req.mutable_kernel()->set_device_name(*in_group);
    } else {
      req.set_fd_socket(*fd_socket);
    }
    req.set_device_id(*name);
    v1::Device d;
    grpc::Status s = stub->AttachDevice(&ctx, req, &d);
    if (!s.ok()) return RpcFailed(s, "attach " + req.device_id());
    PrintDevices(g, {d});
    return 0;
  }
  if (cmd == "detach") {
    v1::DetachDeviceRequest req;
    req.set_name(DeviceName(*name));
    v1::DetachDeviceResponse resp;
    grpc::Status s = stub->DetachDevice(&ctx, req, &resp);
    if (!s.ok()) return RpcFailed(s, "detach " + req.name());
    if (g.output == "table")
      std::cout << "detached " << req.name() << "\n";
    else
      std::cout << Render(g.output, resp);
    return 0;
  }
  if (cmd == "get") {
    v1::GetDeviceRequest req;
    req.set_name(DeviceName(*name));
    v1::Device d;
    grpc::Status s = stub->GetDevice(&ctx, req, &d);
    if (!s.ok()) return RpcFailed(s, "get " + req.name());
    if (g.output != "table") {
      std::cout << Render(g.output, d);
    } else {
      PrintDevices(g, {d});
      PrintMeasures(std::cout, d);
    }
    return 0;
  }
  v1::ListDevicesResponse resp;
  grpc::Status s = stub->ListDevices(&ctx, v1::ListDevicesRequest(), &resp);
  if (!s.ok()) return RpcFailed(s, "list");
  PrintDevices(g, {resp.devices().begin(), resp.devices().end()});
  return 0;
}

}  // namespace vmig::cli
