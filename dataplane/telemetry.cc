// DPDK telemetry commands for the data plane, readable with
// dpdk-telemetry.py: /vmigd/port (every port's counters, by port name) and
// /vmigd/streams (per-stream bytes, frames, retransmissions, RTT, credits in
// flight, keyed "PORT/sSESSION_STREAM").
#include <rte_telemetry.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/transport.h"

namespace vmig::dataplane {
namespace {

absl::Mutex g_mu;
std::vector<Transport*> g_transports ABSL_GUARDED_BY(g_mu);
bool g_registered = false;

int PortCommand(const char*, const char*, rte_tel_data* d) {
  absl::MutexLock lock(&g_mu);
  rte_tel_data_start_dict(d);
  for (Transport* t : g_transports) {
    rte_tel_data* port = rte_tel_data_alloc();
    if (!port) break;
    rte_tel_data_start_dict(port);
    const CounterSnapshot c = t->counters();
    for (size_t i = 0; i < kNumCounters; ++i)
      rte_tel_data_add_dict_u64(port, kCounterNames[i], c.value[i]);
    rte_tel_data_add_dict_container(d, t->config().port.name.c_str(), port, 0);
  }
  return 0;
}

int StreamsCommand(const char*, const char*, rte_tel_data* d) {
  absl::MutexLock lock(&g_mu);
  rte_tel_data_start_dict(d);
  for (Transport* t : g_transports) {
    for (const auto& s : t->Streams()) {
      rte_tel_data* st = rte_tel_data_alloc();
      if (!st) break;
      rte_tel_data_start_dict(st);
      const StreamStats x = s->Stats();
      rte_tel_data_add_dict_u64(st, "state", static_cast<uint64_t>(s->state()));
      rte_tel_data_add_dict_u64(st, "device_bytes", x.device_bytes);
      rte_tel_data_add_dict_u64(st, "frames_sent", x.sender.frames_sent);
      rte_tel_data_add_dict_u64(st, "retransmits", x.sender.retransmits);
      rte_tel_data_add_dict_u64(st, "srtt_ns",
                                static_cast<uint64_t>(x.sender.srtt_ns));
      rte_tel_data_add_dict_u64(st, "cwnd", x.sender.cwnd);
      rte_tel_data_add_dict_u64(st, "in_flight_bytes",
                                x.sender.in_flight_bytes);
      rte_tel_data_add_dict_u64(st, "frames_received", x.receiver.frames);
      rte_tel_data_add_dict_u64(st, "duplicates", x.receiver.duplicates);
      rte_tel_data_add_dict_u64(st, "buffered_bytes",
                                x.receiver.buffered_bytes);
      rte_tel_data_add_dict_u64(st, "max_buffered_bytes",
                                x.receiver.max_buffered_bytes);
      const std::string name =
          absl::StrCat(t->config().port.name, "/s", s->spec().session_id, "_",
                       s->spec().stream_id);
      rte_tel_data_add_dict_container(d, name.c_str(), st, 0);
    }
  }
  return 0;
}

}  // namespace

void ExposeTelemetry(std::vector<Transport*> transports) {
  absl::MutexLock lock(&g_mu);
  g_transports = std::move(transports);
  if (!g_registered) {
    rte_telemetry_register_cmd("/vmigd/port", PortCommand,
                               "vmigd data-plane port counters. No parameters");
    rte_telemetry_register_cmd("/vmigd/streams", StreamsCommand,
                               "vmigd data-plane streams. No parameters");
    g_registered = true;
  }
}

}  // namespace vmig::dataplane
