#include "control/server/watchdog_gate.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace vmig::server {

WatchdogGate::WatchdogGate(const std::string& unix_socket,
                           std::vector<dataplane::Transport*> transports,
                           absl::Duration stall, absl::Duration rpc_deadline)
    : channel_(grpc::CreateChannel("unix://" + unix_socket,
                                   grpc::InsecureChannelCredentials())),
      transports_(std::move(transports)),
      stall_(stall),
      rpc_deadline_(rpc_deadline),
      progress_(transports_.size()) {}

absl::Duration WatchdogGate::StallFor(absl::Duration watchdog) {
  return std::max(absl::Seconds(2), watchdog / 3);
}

std::string WatchdogGate::Check(absl::Time now) {
  std::string server = CheckServer();
  std::string workers = CheckWorkers(now);
  if (server.empty()) return workers;
  if (workers.empty()) return server;
  return absl::StrCat(server, "; ", workers);
}

std::string WatchdogGate::CheckServer() {
  grpc::health::v1::Health::Stub stub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(rpc_deadline_));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  const grpc::Status s = stub.Check(&ctx, req, &resp);
  if (s.ok()) return "";
  return absl::StrCat("the gRPC server did not answer a health check within ",
                      absl::FormatDuration(rpc_deadline_), " (",
                      s.error_message(), ")");
}

std::string WatchdogGate::CheckWorkers(absl::Time now) {
  std::string stuck;
  for (size_t p = 0; p < transports_.size(); ++p) {
    const std::vector<dataplane::CounterSnapshot> each =
        transports_[p]->worker_counters();
    progress_[p].resize(each.size());
    for (size_t w = 0; w < each.size(); ++w) {
      Progress& pr = progress_[p][w];
      // A worker counts a busy pass, or a sleep after 256 idle ones: one
      // of the two moves every millisecond or so while its loop runs.
      const uint64_t loops =
          each[w][dataplane::kBusyLoops] + each[w][dataplane::kIdleSleeps];
      if (loops != pr.loops || pr.since == absl::InfinitePast()) {
        pr.loops = loops;
        pr.since = now;
        continue;
      }
      if (now - pr.since < stall_) continue;
      absl::StrAppend(&stuck, stuck.empty() ? "" : "; ", "worker ", w,
                      " of port ", transports_[p]->config().port.name,
                      " made no progress for ",
                      absl::FormatDuration(absl::Trunc(
                          now - pr.since, absl::Milliseconds(100))));
    }
  }
  return stuck;
}

}  // namespace vmig::server
