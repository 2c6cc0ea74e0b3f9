#include <iostream>

#include "absl/strings/match.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "vmig/v1/device.grpc.pb.h"

namespace vmig::cli {
namespace {

constexpr char kDeviceUsage[] =
    "usage: vmigctl device COMMAND [ARGS...]\n"
    "\n"
    "  attach NAME --emu SPEC                 an emulated device\n"
    "  attach NAME --cdev /dev/vfio/devices/vfioN\n"
    "  attach NAME --group /dev/vfio/G --pci 0000:3b:00.1\n"
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
  Flags f(std::vector<std::string>(args.begin() + 1, args.end()));
  if (cmd == "--help" || cmd == "-h" || f.help()) {
    std::cout << kDeviceUsage << "\n" << kGlobalOptionsHelp;
    return 0;
  }
  std::shared_ptr<grpc::Channel> channel = ChannelOrReport(g);
  if (!channel) return 2;
  auto stub = v1::DeviceService::NewStub(channel);
  grpc::ClientContext ctx;
  SetDeadline(ctx, g);

  if (cmd == "attach") {
    v1::AttachDeviceRequest req;
    std::string v, pci;
    if (f.Take("--emu", &v)) {
      req.set_emulated_spec(v);
    } else if (f.Take("--cdev", &v)) {
      req.mutable_kernel()->set_cdev(v);
    } else if (f.Take("--group", &v)) {
      req.mutable_kernel()->set_group(v);
      if (f.Take("--pci", &pci)) req.mutable_kernel()->set_pci_device(pci);
    } else if (f.Take("--fd-socket", &v)) {
      req.set_fd_socket(v);
    } else if (std::string u = f.UnknownOption(); !u.empty()) {
      return Usage("attach: unknown option " + u);
    } else {
      return Usage("attach needs --emu, --cdev, --group or --fd-socket");
    }
    if (std::string e = f.ExpectOne("attach", "NAME"); !e.empty())
      return Usage(e);
    req.set_device_id(f.rest()[0]);
    v1::Device d;
    grpc::Status s = stub->AttachDevice(&ctx, req, &d);
    if (!s.ok()) return RpcFailed(s, "attach " + req.device_id());
    PrintDevices(g, {d});
    return 0;
  }
  if (cmd == "detach" || cmd == "get") {
    if (std::string e = f.ExpectOne(cmd, "NAME"); !e.empty()) return Usage(e);
    if (cmd == "detach") {
      v1::DetachDeviceRequest req;
      req.set_name(DeviceName(f.rest()[0]));
      v1::DetachDeviceResponse resp;
      grpc::Status s = stub->DetachDevice(&ctx, req, &resp);
      if (!s.ok()) return RpcFailed(s, "detach " + req.name());
      if (g.output == "table")
        std::cout << "detached " << req.name() << "\n";
      else
        std::cout << "{}\n";
      return 0;
    }
    v1::GetDeviceRequest req;
    req.set_name(DeviceName(f.rest()[0]));
    v1::Device d;
    grpc::Status s = stub->GetDevice(&ctx, req, &d);
    if (!s.ok()) return RpcFailed(s, "get " + req.name());
    if (g.output != "table")
      std::cout << Render(g.output, d);
    else
      PrintDevices(g, {d});
    return 0;
  }
  if (cmd == "list") {
    if (!f.rest().empty()) return Usage("list takes no arguments");
    v1::ListDevicesResponse resp;
    grpc::Status s = stub->ListDevices(&ctx, v1::ListDevicesRequest(), &resp);
    if (!s.ok()) return RpcFailed(s, "list");
    PrintDevices(g, {resp.devices().begin(), resp.devices().end()});
    return 0;
  }
  return Usage("unknown command '" + cmd + "'");
}

}  // namespace vmig::cli
