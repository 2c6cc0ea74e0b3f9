// vmigctl health [SERVICE]: the standard grpc.health.v1 check, through the
// stubs generated from proto/grpc/health/v1/health.proto.
#include <iostream>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "control/cli/client.h"
#include "control/cli/commands.h"
#include "control/cli/output.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace vmig::cli {

int RunHealthCommand(const GlobalOptions& g, std::vector<std::string> args) {
  CommandLine cl("vmigctl health",
                 "Asks grpc.health.v1.Health/Check: the whole server, or one\n"
                 "service (vmig.v1.MigrationService, vmig.v1.DeviceService,\n"
                 "vmig.v1.PeerService, vmig.dataplane: the data plane's "
                 "link).\nExit 0 if SERVING.",
                 kGlobalOptionsHelp);
  const std::string& service = cl.Option(
      "service", "one service (default: the whole server)", "SERVICE");
  if (int rc = cl.Parse(args); rc >= 0) return rc;
  std::shared_ptr<grpc::Channel> channel = ChannelOrReport(g);
  if (!channel) return 2;
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  SetDeadline(ctx, g);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status status = stub->Check(&ctx, req, &resp);
  if (!status.ok()) return RpcFailed(status, "health");
  const std::string name =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
  if (g.output != "table") {
    std::cout << Render(g.output, resp);
  } else {
    std::cout << name << "\n";
  }
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0
                                                                         : 1;
}

}  // namespace vmig::cli
