// Data-plane counters. Each worker writes its own WorkerCounters, alone, on
// cache lines no other worker writes (a relaxed load and store per update:
// no locked instruction, no line bouncing between lcores). Readers (the
// daemon's status, DPDK telemetry, benchmarks) sum the workers' blocks into
// a CounterSnapshot. The counters are listed once, in kCounterNames.
#ifndef VMIGD_DATAPLANE_COUNTERS_H_
#define VMIGD_DATAPLANE_COUNTERS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmig::dataplane {

enum Counter : size_t {
  kRxFrames,
  kRxBytes,
  kTxFrames,
  kTxBytes,
  kTxRingFull,        // bursts the ring did not take whole
  kTxBacklogDrops,    // frames dropped past the TX backlog bound
  kRetransmitCopies,  // retransmissions sent as a copy: the PMD held the
                      // original
  kParseErrors,
  kCrcErrors,
  // AEAD frames dropped: failed authentication (forged, corrupted, another
  // key), and authentic ones replayed or below the replay window.
  kAuthFailures,
  kReplays,
  kUnknownSession,
  kBadToken,
  kInjectedDrop,
  kInjectedDuplicate,
  kInjectedReorder,
  kInjectedCorrupt,
  kInjectedDelay,
  kBusyLoops,
  kIdleSleeps,
  // Frames a worker received for a stream another worker owns, passed on
  // to it (RSS or a kernel fanout chose the queue), and those dropped
  // because the owner's hand-off ring was full.
  kHandoffs,
  kHandoffDrops,
  // Sender passes in which a bandwidth cap (the port's or a session's)
  // held data back.
  kCapWaits,
  kNumCounters,
};

// Names as DPDK telemetry and the benchmarks report them.
inline constexpr std::array<const char*, kNumCounters> kCounterNames = {
    "rx_frames",         "rx_bytes",         "tx_frames",
    "tx_bytes",          "tx_ring_full",     "tx_backlog_drops",
    "retransmit_copies", "parse_errors",     "crc_errors",
    "auth_failures",     "replays",          "unknown_session",
    "bad_token",         "injected_drop",    "injected_duplicate",
    "injected_reorder",  "injected_corrupt", "injected_delay",
    "busy_loops",        "idle_sleeps",      "handoffs",
    "handoff_drops",     "cap_waits"};

// Frames dropped, by dataplane::ParseError (index = enum value; equal to
// kNumParseErrors, which worker.cc checks).
inline constexpr size_t kParseErrorKinds = 16;

struct alignas(64) WorkerCounters {
  // Only the owning worker calls these.
  void Add(Counter c, uint64_t n = 1) { Bump(value[c], n); }
  void AddParseError(size_t kind) { Bump(parse_error_kinds[kind], 1); }

  std::array<std::atomic<uint64_t>, kNumCounters> value{};
  std::array<std::atomic<uint64_t>, kParseErrorKinds> parse_error_kinds{};

 private:
  static void Bump(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

// The workers' counters added up, at one moment.
struct CounterSnapshot {
  uint64_t operator[](Counter c) const { return value[c]; }

  std::array<uint64_t, kNumCounters> value{};
  std::array<uint64_t, kParseErrorKinds> parse_error_kinds{};

  static CounterSnapshot Sum(const std::vector<const WorkerCounters*>& all) {
    CounterSnapshot s;
    for (const WorkerCounters* w : all) {
      for (size_t i = 0; i < kNumCounters; ++i)
        s.value[i] += w->value[i].load(std::memory_order_relaxed);
      for (size_t i = 0; i < kParseErrorKinds; ++i) {
        s.parse_error_kinds[i] +=
            w->parse_error_kinds[i].load(std::memory_order_relaxed);
      }
    }
    return s;
  }
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_COUNTERS_H_
