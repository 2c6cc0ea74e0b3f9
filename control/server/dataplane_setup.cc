#include "control/server/dataplane_setup.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "control/server/dpdk_log.h"
#include "daemon/config.h"
#include "dataplane/aead.h"
#include "dataplane/eal.h"
#include "spdlog/spdlog.h"

namespace vmig::server {

using daemon::ParseLcores;

namespace {

// A port's worker lcores: its own, or dataplane.lcores for a single port.
absl::StatusOr<std::vector<unsigned>> PortLcores(
    const v1::DataplaneConfig& dp, const v1::DataplanePort& port) {
  return ParseLcores(port.lcores().empty() ? dp.lcores() : port.lcores());
}

dataplane::TransportConfig TransportConfigOf(const v1::DaemonConfig& config,
                                             const v1::DataplanePort& port,
                                             std::vector<unsigned> workers) {
  const auto& dp = config.dataplane();
  dataplane::TransportConfig tc;
  tc.port.name = port.name();
  switch (port.kind_case()) {
    case v1::DataplanePort::kMemif:
      tc.port.kind = dataplane::PortConfig::Kind::kMemif;
      tc.port.args = port.memif();
      break;
    case v1::DataplanePort::kAfPacket:
      tc.port.kind = dataplane::PortConfig::Kind::kAfPacket;
      tc.port.args = port.af_packet();
      break;
    default:
      tc.port.kind = dataplane::PortConfig::Kind::kPci;
      tc.port.args = port.pci();
  }
  if (port.mtu()) tc.port.mtu = port.mtu();
  tc.max_rate = port.max_rate();
  tc.port.mbufs = dp.mbufs();
  in_addr a{};
  inet_pton(AF_INET, port.ipv4().c_str(), &a);
  tc.local.ipv4 = ntohl(a.s_addr);
  tc.local.udp_port = static_cast<uint16_t>(port.udp_port());
  tc.worker_lcores = std::move(workers);
  tc.flow.window_bytes = dp.credit_window_bytes();
  tc.protection = *dataplane::ProtectionFromName(dp.cipher());
  tc.max_receive_buffer_bytes = config.limits().max_memory_bytes();
  const v1::FrameFaults& f = dp.inject_faults();
  tc.faults.drop = f.drop();
  tc.faults.duplicate = f.duplicate();
  tc.faults.reorder = f.reorder();
  tc.faults.corrupt = f.corrupt();
  tc.faults.delay = f.delay();
  if (f.seed() != 0) tc.faults.seed = f.seed();
  tc.faults.hang_worker_after_frames = f.hang_worker_after_frames();
  if (f.hang_worker_after_frames() > 0) {
    spdlog::warn(
        "data plane: port {}'s workers hang after {} frames "
        "(dataplane.inject_faults.hang_worker_after_frames)",
        port.name(), f.hang_worker_after_frames());
  }
  if (tc.faults.any()) {
    spdlog::warn(
        "data plane: port {} injects faults into the frames it sends "
        "(dataplane.inject_faults: drop {} duplicate {} reorder {} corrupt {} "
        "delay {}): for chaos runs only",
        port.name(), f.drop(), f.duplicate(), f.reorder(), f.corrupt(),
        f.delay());
  }
  // A daemon may start before its memif peer: the LinkMonitor dials it.
  tc.dial_later = true;
  return tc;
}

}  // namespace

absl::StatusOr<Transports> StartDataplane(const v1::DaemonConfig& config) {
  const auto& dp = config.dataplane();
  Transports transports;
  if (dp.ports().empty()) return transports;
  std::vector<std::vector<unsigned>> workers;
  std::vector<unsigned> all;
  for (const auto& port : dp.ports()) {
    absl::StatusOr<std::vector<unsigned>> w = PortLcores(dp, port);
    if (!w.ok()) return w.status();
    all.insert(all.end(), w->begin(), w->end());
    workers.push_back(std::move(*w));
  }
  unsigned main_lcore = 0;
  if (dp.has_main_lcore()) {
    main_lcore = dp.main_lcore();
  } else {
    while (std::find(all.begin(), all.end(), main_lcore) != all.end())
      ++main_lcore;
  }
  if (std::find(all.begin(), all.end(), main_lcore) != all.end()) {
    return absl::InvalidArgumentError(
        "option dataplane.main_lcore: is also a worker lcore");
  }
  dataplane::EalOptions eal;
  all.push_back(main_lcore);
  std::sort(all.begin(), all.end());
  eal.lcores = absl::StrJoin(all, ",");
  eal.cpu_set = dp.cpu_set();
  eal.extra_args = {"--main-lcore", absl::StrCat(main_lcore)};
  eal.file_prefix =
      dp.file_prefix().empty()
          ? absl::StrCat("vmigd-", std::hash<std::string>()(
                                       config.listen().unix_socket()) %
                                       1000000)
          : dp.file_prefix();
  eal.memory_mb = dp.memory_mb();
  eal.extra_args.insert(eal.extra_args.end(), dp.eal_args().begin(),
                        dp.eal_args().end());
  for (const auto& port : dp.ports()) {
    if (port.memif().find("zero-copy=yes") != std::string::npos) {
      // memif zero-copy needs it.
      eal.extra_args.push_back("--single-file-segments");
      break;
    }
  }
  RouteDpdkLogThroughSpdlog();
  if (absl::Status s = dataplane::InitEal(eal); !s.ok()) return s;
  for (int i = 0; i < dp.ports_size(); ++i) {
    auto t = dataplane::Transport::Start(TransportConfigOf(
        config, dp.ports(i), std::move(workers[static_cast<size_t>(i)])));
    if (!t.ok()) {
      return absl::Status(
          t.status().code(),
          absl::StrCat("dataplane.ports[", i, "] (", dp.ports(i).name(),
                       "): ", t.status().message()));
    }
    transports.push_back(std::move(*t));
  }
  std::vector<dataplane::Transport*> exposed;
  for (const auto& t : transports) exposed.push_back(t.get());
  dataplane::ExposeTelemetry(exposed);
  // Where operators find DPDK's own view (vmigd(8)): the socket, and the
  // file prefix that names this instance.
  spdlog::info(
      "data plane: DPDK telemetry at {} (file prefix {}; commands "
      "/vmigd/port, /vmigd/streams and DPDK's own)",
      dataplane::TelemetrySocketPath(), eal.file_prefix);
  return transports;
}

}  // namespace vmig::server
