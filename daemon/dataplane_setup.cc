#include "daemon/dataplane_setup.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "daemon/config.h"
#include "dataplane/eal.h"

namespace vmig::daemon {

absl::StatusOr<std::unique_ptr<dataplane::Transport>> StartDataplane(
    const v1::DaemonConfig& config) {
  const auto& dp = config.dataplane();
  if (dp.ports().empty()) return std::unique_ptr<dataplane::Transport>();
  absl::StatusOr<std::vector<unsigned>> workers = ParseLcores(dp.lcores());
  if (!workers.ok()) return workers.status();
  unsigned main_lcore = 0;
  if (dp.has_main_lcore()) {
    main_lcore = dp.main_lcore();
  } else {
    while (std::find(workers->begin(), workers->end(), main_lcore) !=
           workers->end())
      ++main_lcore;
  }
  if (std::find(workers->begin(), workers->end(), main_lcore) !=
      workers->end()) {
    return absl::InvalidArgumentError(
        "option dataplane.main_lcore: is also a worker lcore");
  }
  const v1::DataplanePort& port = dp.ports(0);
  dataplane::EalOptions eal;
  std::vector<unsigned> all = *workers;
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
  if (port.memif().find("zero-copy=yes") != std::string::npos) {
    eal.extra_args.push_back(
        "--single-file-segments");  // memif zero-copy needs it
  }
  if (absl::Status s = dataplane::InitEal(eal); !s.ok()) return s;

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
  tc.port.mbufs = dp.mbufs();
  in_addr a{};
  inet_pton(AF_INET, port.ipv4().c_str(), &a);
  tc.local.ipv4 = ntohl(a.s_addr);
  tc.local.udp_port = static_cast<uint16_t>(port.udp_port());
  tc.worker_lcores = *workers;
  tc.flow.window_bytes = dp.credit_window_bytes();
  tc.max_receive_buffer_bytes = config.limits().max_memory_bytes();
  auto transport = dataplane::Transport::Start(tc);
  if (!transport.ok()) return transport.status();
  dataplane::ExposeTelemetry(transport->get());
  return std::move(*transport);
}

}  // namespace vmig::daemon
