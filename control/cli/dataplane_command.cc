// vmigctl dataplane status: the daemon's data-plane port and flows.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/command_line.h"
#include "common/units.h"
#include "control/cli/commands.h"
#include "control/cli/output.h"
#include "vmig/v1/dataplane.grpc.pb.h"

namespace vmig::cli {
namespace {

constexpr char kDataplaneUsage[] =
    "usage: vmigctl dataplane status\n"
    "\n"
    "The daemon's data-plane ports (link, traffic, errors and drops) and\n"
    "every device stream they carry (bytes, retransmissions, RTT,\n"
    "congestion window, bytes in flight, receive buffering).\n";

const char* RoleName(v1::FlowRole r) {
  return r == v1::FLOW_ROLE_SEND ? "send" : "receive";
}

std::string FlowStateName(v1::FlowState s) {
  std::string n = v1::FlowState_Name(s);
  return n.substr(n.rfind('_') + 1);
}

void PrintPort(const v1::PortStatus& p) {
  std::string lcores;
  for (uint32_t l : p.worker_lcores()) absl::StrAppend(&lcores, " ", l);
  std::cout << absl::StrFormat(
      "port %s (%s) %s %s:%u, link %s, worker lcores%s, payload %u bytes\n",
      p.name(), p.kind(), p.mac(), p.ipv4(), p.udp_port(),
      p.link_up() ? "up" : "down", lcores, p.max_payload_bytes());
  std::cout << absl::StrFormat(
      "  rx %u frames, %s; tx %u frames, %s\n", p.rx_frames(),
      FormatBytes(static_cast<double>(p.rx_bytes())), p.tx_frames(),
      FormatBytes(static_cast<double>(p.tx_bytes())));
  std::cout << absl::StrFormat(
      "  dropped: crc %u, malformed %u, unauthentic %u, replayed %u, "
      "unknown session %u, bad token %u, tx backlog %u; tx ring full %u; "
      "retransmit copies %u\n",
      p.crc_errors(), p.parse_errors(), p.auth_failures(), p.replays(),
      p.unknown_session(), p.bad_token(), p.tx_backlog_drops(),
      p.tx_ring_full(), p.retransmit_copies());
  for (const auto& [reason, n] : p.parse_errors_by_reason())
    std::cout << absl::StrFormat("    malformed (%s): %u\n", reason, n);
  const v1::InjectedFaults& f = p.injected();
  if (f.dropped() + f.duplicated() + f.reordered() + f.corrupted() +
          f.delayed() >
      0) {
    std::cout << absl::StrFormat(
        "  injected: drop %u, duplicate %u, reorder %u, corrupt %u, delay "
        "%u\n",
        f.dropped(), f.duplicated(), f.reordered(), f.corrupted(), f.delayed());
  }
  if (p.handoffs() + p.handoff_drops() > 0) {
    std::cout << absl::StrFormat(
        "  handed to the stream's worker: %u (dropped, ring full: %u)\n",
        p.handoffs(), p.handoff_drops());
  }
  std::cout << absl::StrFormat(
      "  mbufs in use %u; busy loops %u, idle "
      "sleeps %u\n\n",
      p.mbufs_in_use(), p.busy_loops(), p.idle_sleeps());
}

void PrintStatus(const v1::DataplaneStatus& st) {
  for (const v1::PortStatus& p : st.ports()) PrintPort(p);
  if (st.flows().empty()) {
    std::cout << "no flows (a finished session's streams are released)\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::FlowStatus& x : st.flows()) {
    const bool send = x.role() == v1::FLOW_ROLE_SEND;
    rows.push_back(
        {x.port(),
         x.session().empty() ? absl::StrCat("#", x.wire_session_id())
                             : x.session(),
         absl::StrCat(x.stream_id()), RoleName(x.role()),
         FlowStateName(x.state()),
         FormatBytes(static_cast<double>(x.device_bytes())),
         absl::StrCat(send ? x.frames_sent() : x.frames_received()),
         send ? absl::StrCat(x.retransmits()) : "-",
         send ? absl::StrFormat("%.2f ms", x.srtt_ns() / 1e6) : "-",
         send ? absl::StrCat(x.cwnd_frames()) : "-",
         send ? FormatBytes(static_cast<double>(x.in_flight_bytes())) : "-",
         send ? "-" : absl::StrCat(x.duplicates()),
         send ? "-"
              : absl::StrCat(
                    FormatBytes(static_cast<double>(x.buffered_bytes())),
                    " (max ",
                    FormatBytes(static_cast<double>(x.max_buffered_bytes())),
                    ")")});
  }
  PrintTable(
      std::cout,
      {"PORT", "SESSION", "STREAM", "ROLE", "STATE", "DEVICE BYTES", "FRAMES",
       "RETRANSMITS", "SRTT", "CWND", "IN FLIGHT", "DUPLICATES", "BUFFERED"},
      rows);
}

int Usage(const std::string& why) {
  std::cerr << "vmigctl dataplane: " << why << "\n" << kDataplaneUsage;
  return 2;
}

}  // namespace

int RunDataplaneCommand(const GlobalOptions& g, std::vector<std::string> args) {
  if (args.empty()) return Usage("a command is required");
  if (args[0] == "--help" || args[0] == "-h") {
    std::cout << kDataplaneUsage << "\n" << kGlobalOptionsHelp;
    return 0;
  }
  if (args[0] != "status") return Usage("unknown command '" + args[0] + "'");
  CommandLine cl("vmigctl dataplane status",
                 "Every data-plane port (link, counters) and flow.",
                 kGlobalOptionsHelp);
  if (int rc = cl.Parse({args.begin() + 1, args.end()}); rc >= 0) return rc;
  std::shared_ptr<grpc::Channel> channel = ChannelOrReport(g);
  if (!channel) return 2;
  auto stub = v1::DataplaneService::NewStub(channel);
  grpc::ClientContext ctx;
  SetDeadline(ctx, g);
  v1::DataplaneStatus st;
  grpc::Status s =
      stub->GetDataplaneStatus(&ctx, v1::GetDataplaneStatusRequest(), &st);
  if (!s.ok()) return RpcFailed(s, "dataplane status");
  if (g.output != "table")
    std::cout << Render(g.output, st);
  else
    PrintStatus(st);
  return 0;
}

}  // namespace vmig::cli
