// Micro-benchmarks of the data plane's per-frame work, each reporting bytes
// or items per second (memcpy is in emu_device_bench.cc, same binary).
#include <isa-l/crc.h>

#include <cstring>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "dataplane/crc32c.h"
#include "dataplane/flow.h"
#include "dataplane/wire.h"

namespace vmig::dataplane {
namespace {

constexpr size_t kPayload = 8942;  // a 9000-byte MTU frame's payload

std::vector<uint8_t> Noise(size_t n) {
  std::vector<uint8_t> v(n);
  std::mt19937 r(1);
  for (auto& b : v) b = static_cast<uint8_t>(r());
  return v;
}

// The checksum at a frame's payload sizes: the dispatching entry point, the
// interleaved kernel alone and ISA-L alone (the baseline it must beat).
void Crc32cSizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {512, 1024, 2048, 8942, 63942}) b->Arg(n);
}

template <uint32_t (*kCrc)(const uint8_t*, size_t, uint32_t)>
void BM_Crc(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  auto data = Noise(n);
  for (auto _ : state)
    benchmark::DoNotOptimize(kCrc(data.data(), data.size(), 0xffffffffu));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
  if (kCrc == &Crc32c) state.SetLabel(Crc32cLongKernel());
}

uint32_t IsalOnly(const uint8_t* data, size_t n, uint32_t seed) {
  return crc32_iscsi(const_cast<uint8_t*>(data), static_cast<int>(n), seed);
}
BENCHMARK(BM_Crc<Crc32c>)->Name("BM_Crc32c")->Apply(Crc32cSizes);
BENCHMARK(BM_Crc<IsalOnly>)->Name("BM_Crc32cIsal")->Apply(Crc32cSizes);

// Only where the CPU has VPCLMULQDQ (elsewhere Crc32c is ISA-L alone).
const bool kInterleavedRegistered = [] {
  if (!Crc32cInterleavedAvailable()) return false;
  benchmark::RegisterBenchmark("BM_Crc32cInterleaved",
                               BM_Crc<Crc32cInterleaved>)
      ->Apply(Crc32cSizes);
  return true;
}();

// The bitwise reference the tests check against, at a 9000-byte frame's
// payload only (it is 250x slower).
BENCHMARK(BM_Crc<Crc32cSerial>)->Name("BM_Crc32cBitwise")->Arg(kPayload);

Endpoint Ep(uint32_t ip) {
  Endpoint e;
  e.ipv4 = ip;
  e.udp_port = 7700;
  return e;
}

// A data frame with a noise payload of kPayload bytes, headers encoded.
std::vector<uint8_t> DataFrame(WireHeader& h) {
  std::vector<uint8_t> frame(kFrameOverhead + kPayload);
  auto payload = Noise(kPayload);
  std::memcpy(frame.data() + kFrameOverhead, payload.data(), kPayload);
  h = {};
  h.type = static_cast<uint8_t>(FrameType::kData);
  EncodeHeaders(Ep(1), Ep(2), 49152, h,
                absl::MakeConstSpan(frame.data() + kFrameOverhead, kPayload),
                frame.data());
  return frame;
}

void BM_EncodeDataFrame(benchmark::State& state) {
  WireHeader h;
  std::vector<uint8_t> frame = DataFrame(h);
  for (auto _ : state) {
    ++h.seq;
    EncodeHeaders(Ep(1), Ep(2), 49152, h,
                  absl::MakeConstSpan(frame.data() + kFrameOverhead, kPayload),
                  frame.data());
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(frame.size()));
}
BENCHMARK(BM_EncodeDataFrame);

void BM_ParseDataFrame(benchmark::State& state) {
  WireHeader h;
  const std::vector<uint8_t> frame = DataFrame(h);
  ParseError err;
  for (auto _ : state) benchmark::DoNotOptimize(ParseFrame(frame, 7700, &err));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(frame.size()));
}
BENCHMARK(BM_ParseDataFrame);

void BM_EncodeParseAck(benchmark::State& state) {
  AckPayload a = {};
  a.cumulative = 1000;
  a.window_end = 1 << 23;
  a.sack_count = 4;
  for (uint32_t i = 0; i < 4; ++i) a.sacks[i] = {1001 + 10 * i, 1005 + 10 * i};
  const size_t n = AckPayloadBytes(4);
  std::vector<uint8_t> frame(kFrameOverhead + n);
  WireHeader h = {};
  h.type = static_cast<uint8_t>(FrameType::kAck);
  ParseError err;
  for (auto _ : state) {
    std::memcpy(frame.data() + kFrameOverhead, &a, n);
    EncodeHeaders(Ep(2), Ep(1), 49152, h,
                  absl::MakeConstSpan(frame.data() + kFrameOverhead, n),
                  frame.data());
    auto p = ParseFrame(frame, 7700, &err);
    AckPayload back;
    benchmark::DoNotOptimize(ParseAck(p->payload, &back));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeParseAck);

// A sender and a receiver flow with every 50th frame held back one round
// (reordering): SACK generation and processing, reassembly, in-order
// delivery, cumulative acks. Items are frames delivered.
void BM_SackAndReassembly(benchmark::State& state) {
  FlowConfig cfg;
  int64_t now = 1;
  int dummy;
  int64_t frames = 0;
  for (auto _ : state) {
    state.PauseTiming();
    SenderFlow s(cfg);
    ReceiverFlow r(cfg);
    state.ResumeTiming();
    std::vector<std::pair<uint64_t, uint64_t>> held;  // (seq, offset) delayed
    for (int round = 0; round < 64; ++round) {
      while (s.CanSend(8192)) {
        auto& f = s.Push(&dummy, 8192, false, ++now);
        if (f.seq % 50 == 7) {
          held.push_back({f.seq, f.offset});
        } else {
          r.OnData(f.seq, f.offset, 8192, false, &dummy);
        }
      }
      for (auto [seq, off] : held) r.OnData(seq, off, 8192, false, &dummy);
      held.clear();
      (void)r.DeliverInOrder(
          [&](void*, uint64_t, uint32_t from,
              uint32_t len) -> absl::StatusOr<uint32_t> {
            ++frames;
            return len - from;
          },
          [](void*) {});
      const uint64_t echo = static_cast<uint64_t>(now);
      s.OnAck(r.MakeAck(echo), ++now, [](void*) {});
    }
  }
  state.SetItemsProcessed(frames);
  state.SetBytesProcessed(frames * 8192);
}
BENCHMARK(BM_SackAndReassembly);

}  // namespace
}  // namespace vmig::dataplane
