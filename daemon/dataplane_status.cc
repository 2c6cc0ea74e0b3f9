#include "daemon/dataplane_status.h"

#include <arpa/inet.h>

#include <map>
#include <string>

#include "absl/strings/str_format.h"

namespace vmig::daemon {
namespace {

std::string Ipv4Text(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

const char* KindName(dataplane::PortConfig::Kind k) {
  switch (k) {
    case dataplane::PortConfig::Kind::kMemif:
      return "memif";
    case dataplane::PortConfig::Kind::kAfPacket:
      return "af_packet";
    case dataplane::PortConfig::Kind::kPci:
      return "pci";
    case dataplane::PortConfig::Kind::kRing:
      return "ring";
  }
  return "";
}

v1::FlowState FlowStateOf(dataplane::Stream::State s) {
  switch (s) {
    case dataplane::Stream::kPending:
      return v1::FLOW_STATE_PENDING;
    case dataplane::Stream::kRunning:
      return v1::FLOW_STATE_RUNNING;
    case dataplane::Stream::kDone:
      return v1::FLOW_STATE_DONE;
    case dataplane::Stream::kFailed:
      return v1::FLOW_STATE_FAILED;
    case dataplane::Stream::kCancelled:
      return v1::FLOW_STATE_CANCELLED;
  }
  return v1::FLOW_STATE_UNSPECIFIED;
}

}  // namespace

void SetCounters(const dataplane::CounterSnapshot& c, v1::PortStatus& p) {
  // One list: every counter of dataplane/counters.h, by its name, into the
  // field of that name (the injected faults into their own message), so
  // that the status cannot drift from the workers' counters; a counter
  // without a field fails DataplaneStatusTest.
  static const auto* injected = new std::map<std::string, std::string>{
      {"injected_drop", "dropped"},
      {"injected_duplicate", "duplicated"},
      {"injected_reorder", "reordered"},
      {"injected_corrupt", "corrupted"},
      {"injected_delay", "delayed"}};
  for (size_t k = 0; k < dataplane::kNumCounters; ++k) {
    google::protobuf::Message* m = &p;
    std::string field = dataplane::kCounterNames[k];
    if (auto it = injected->find(field); it != injected->end()) {
      m = p.mutable_injected();
      field = it->second;
    }
    const google::protobuf::FieldDescriptor* f =
        m->GetDescriptor()->FindFieldByName(field);
    if (f == nullptr ||
        f->type() != google::protobuf::FieldDescriptor::TYPE_UINT64)
      continue;
    m->GetReflection()->SetUInt64(m, f, c.value[k]);
  }
}

namespace {

void FillPort(dataplane::Transport& t, v1::PortStatus& p) {
  const dataplane::TransportConfig& config = t.config();
  std::shared_ptr<dataplane::Port> held = t.port();
  p.set_name(config.port.name);
  if (!held) return;  // being reopened: link down, nothing else to say
  dataplane::Port& port = *held;
  p.set_name(config.port.name);
  p.set_kind(KindName(config.port.kind));
  const auto& m = port.mac();
  p.set_mac(absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
                            m[3], m[4], m[5]));
  p.set_ipv4(Ipv4Text(t.local().ipv4));
  p.set_udp_port(t.local().udp_port);
  p.set_link_up(port.LinkUp());
  p.set_max_payload_bytes(port.max_payload());
  for (unsigned l : config.worker_lcores) p.add_worker_lcores(l);

  const dataplane::CounterSnapshot c = t.counters();
  SetCounters(c, p);
  for (size_t k = 0; k < c.parse_error_kinds.size(); ++k) {
    if (uint64_t n = c.parse_error_kinds[k]) {
      (*p.mutable_parse_errors_by_reason())[dataplane::ParseErrorName(
          static_cast<dataplane::ParseError>(k))] = n;
    }
  }
  p.set_max_rate(t.port_cap().rate());
  const dataplane::Transport::Rates r = t.SampleRates();
  p.set_tx_bytes_per_second(r.tx_bytes_per_second);
  p.set_rx_bytes_per_second(r.rx_bytes_per_second);
  p.set_mbufs_in_use(t.MbufsInUse());
}

void AddFlows(dataplane::Transport& transport,
              const std::function<std::string(uint32_t)>& session_name,
              v1::DataplaneStatus& out) {
  for (const auto& s : transport.Streams()) {
    const dataplane::StreamSpec& spec = s->spec();
    const dataplane::StreamStats x = s->Stats();
    v1::FlowStatus& f = *out.add_flows();
    f.set_port(transport.config().port.name);
    f.set_session(session_name(spec.session_id));
    f.set_wire_session_id(spec.session_id);
    f.set_stream_id(spec.stream_id);
    f.set_role(spec.role == dataplane::StreamRole::kSend
                   ? v1::FLOW_ROLE_SEND
                   : v1::FLOW_ROLE_RECEIVE);
    f.set_state(FlowStateOf(s->state()));
    f.set_device_bytes(x.device_bytes);
    f.set_frames_sent(x.sender.frames_sent);
    f.set_retransmits(x.sender.retransmits);
    f.set_srtt_ns(static_cast<int64_t>(x.sender.srtt_ns));
    f.set_cwnd_frames(x.sender.cwnd);
    f.set_in_flight_bytes(x.sender.in_flight_bytes);
    f.set_frames_received(x.receiver.frames);
    f.set_duplicates(x.receiver.duplicates);
    f.set_buffered_bytes(x.receiver.buffered_bytes);
    f.set_max_buffered_bytes(x.receiver.max_buffered_bytes);
    if (spec.cap) f.set_max_bandwidth(spec.cap->rate());
    f.set_urgent(s->urgent());
    f.set_cap_waits(x.cap_waits);
  }
}

}  // namespace

v1::DataplaneStatus DataplaneStatusOf(
    const std::vector<dataplane::Transport*>& transports,
    const std::function<std::string(uint32_t)>& session_name) {
  v1::DataplaneStatus out;
  for (dataplane::Transport* t : transports) {
    FillPort(*t, *out.add_ports());
    AddFlows(*t, session_name, out);
  }
  return out;
}

}  // namespace vmig::daemon
