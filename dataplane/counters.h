// Port-level counters, written by workers with relaxed atomics and read by
// the control thread, the daemon's status and DPDK telemetry.
#ifndef VMIGD_DATAPLANE_COUNTERS_H_
#define VMIGD_DATAPLANE_COUNTERS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

namespace vmig::dataplane {

struct PortCounters {
  std::atomic<uint64_t> rx_frames{0}, rx_bytes{0}, tx_frames{0}, tx_bytes{0};
  std::atomic<uint64_t> tx_ring_full{0};  // bursts the ring did not take whole
  std::atomic<uint64_t> tx_backlog_drops{0};  // frames dropped past kMaxBacklog
  // Retransmissions sent as a copy: the PMD still held the original.
  std::atomic<uint64_t> retransmit_copies{0};
  std::atomic<uint64_t> parse_errors{0}, crc_errors{0};
  // parse_errors by dataplane::ParseError (index = enum value).
  std::array<std::atomic<uint64_t>, 11> parse_error_kinds{};
  std::atomic<uint64_t> unknown_session{0}, bad_token{0};
  std::atomic<uint64_t> injected_drop{0}, injected_duplicate{0},
      injected_reorder{0}, injected_corrupt{0}, injected_delay{0};
  std::atomic<uint64_t> busy_loops{0}, idle_sleeps{0};
  // Frames a worker received for a stream another worker owns, passed on to
  // it (RSS or a kernel fanout chose the queue, not vmigd), and those dropped
  // because the owner's hand-off ring was full.
  std::atomic<uint64_t> handoffs{0}, handoff_drops{0};

  // Every scalar counter with its name (parse_error_kinds aside), for the
  // readers that list them all: DPDK telemetry and the benchmark's report.
  using Named = std::pair<const char*, const std::atomic<uint64_t>*>;
  std::vector<Named> All() const {
    return {{"rx_frames", &rx_frames},
            {"rx_bytes", &rx_bytes},
            {"tx_frames", &tx_frames},
            {"tx_bytes", &tx_bytes},
            {"tx_ring_full", &tx_ring_full},
            {"tx_backlog_drops", &tx_backlog_drops},
            {"retransmit_copies", &retransmit_copies},
            {"parse_errors", &parse_errors},
            {"crc_errors", &crc_errors},
            {"unknown_session", &unknown_session},
            {"bad_token", &bad_token},
            {"injected_drop", &injected_drop},
            {"injected_duplicate", &injected_duplicate},
            {"injected_reorder", &injected_reorder},
            {"injected_corrupt", &injected_corrupt},
            {"injected_delay", &injected_delay},
            {"busy_loops", &busy_loops},
            {"idle_sleeps", &idle_sleeps},
            {"handoffs", &handoffs},
            {"handoff_drops", &handoff_drops}};
  }

  static void Add(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
  // For readers on other threads (status, telemetry): a relaxed load.
  static uint64_t Read(const std::atomic<uint64_t>& c) {
    return c.load(std::memory_order_relaxed);
  }
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_COUNTERS_H_
