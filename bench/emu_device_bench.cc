// Emulated device throughput next to memcpy measured in the same run. A read
// is a copy plus framing and hashing, so it should reach at least half of
// memcpy; a write is validation (hashing) only.
//
//   build/bench/vmig_micro_bench --benchmark_filter='Memcpy|Emu'
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "vfio/emu/emu_device.h"
#include "vfio/fsm.h"

namespace vmig::vfio {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr uint64_t kLargeBytes = 256ull << 20;

double g_memcpy_bytes_per_s = 0;  // set by BM_Memcpy, which runs first

void SetRatio(benchmark::State& state, uint64_t bytes) {
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  if (g_memcpy_bytes_per_s > 0) {
    // bytes / memcpy rate, divided by the run time: this rate / memcpy's.
    state.counters["vs_memcpy"] =
        benchmark::Counter(static_cast<double>(bytes) / g_memcpy_bytes_per_s,
                           benchmark::Counter::kIsRate);
  }
}

// 256 MiB copied in 1 MiB chunks into one 1 MiB buffer: the same access
// pattern as reading a data_fd into a chunk buffer.
void BM_Memcpy(benchmark::State& state) {
  std::vector<uint8_t> src(kLargeBytes, 1), dst(kChunk);
  uint64_t bytes = 0;
  for (auto _ : state) {
    for (uint64_t off = 0; off < kLargeBytes; off += kChunk) {
      std::memcpy(dst.data(), src.data() + off, kChunk);
      benchmark::DoNotOptimize(dst.data());
      bytes += kChunk;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();

// Measures memcpy once, outside the benchmark loop, for the ratios below.
void MeasureMemcpyOnce() {
  if (g_memcpy_bytes_per_s > 0) return;
  std::vector<uint8_t> src(kLargeBytes, 1), dst(kChunk);
  auto start = std::chrono::steady_clock::now();
  uint64_t bytes = 0;
  for (int rep = 0; rep < 4; ++rep) {
    for (uint64_t off = 0; off < kLargeBytes; off += kChunk) {
      std::memcpy(dst.data(), src.data() + off, kChunk);
      benchmark::DoNotOptimize(dst.data());
      bytes += kChunk;
    }
  }
  std::chrono::duration<double> d = std::chrono::steady_clock::now() - start;
  g_memcpy_bytes_per_s = static_cast<double>(bytes) / d.count();
}

void BM_EmuRead(benchmark::State& state) {
  MeasureMemcpyOnce();
  std::vector<uint8_t> buf(kChunk);
  uint64_t bytes = 0;
  std::unique_ptr<emu::EmuDevice> dev;
  std::unique_ptr<DataSession> session;
  for (auto _ : state) {
    if (!session) {
      state.PauseTiming();
      dev = std::move(*emu::EmuDevice::Create("emu:state=1GiB"));
      session = std::move(*dev->SetState(DeviceState::kStopCopy));
      state.ResumeTiming();
    }
    auto r = session->Read(absl::MakeSpan(buf));
    if (r->outcome == ReadOutcome::kEndOfStream) {
      session.reset();
      continue;
    }
    bytes += r->bytes;
  }
  SetRatio(state, bytes);
}
BENCHMARK(BM_EmuRead)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_EmuWrite(benchmark::State& state) {
  MeasureMemcpyOnce();
  // One whole 256 MiB stream, captured once.
  static std::vector<uint8_t>* stream = [] {
    auto src = std::move(*emu::EmuDevice::Create("emu:state=256MiB"));
    auto out = std::move(*src->SetState(DeviceState::kStopCopy));
    auto* s = new std::vector<uint8_t>(*src->GetStopCopyLength());
    size_t got = 0;
    while (got < s->size()) {
      got += out->Read(absl::MakeSpan(*s).subspan(got))->bytes;
    }
    return s;
  }();
  uint64_t bytes = 0;
  std::unique_ptr<emu::EmuDevice> dev;
  std::unique_ptr<DataSession> session;
  size_t off = 0;
  for (auto _ : state) {
    if (!session || off >= stream->size()) {
      state.PauseTiming();
      session.reset();
      dev = std::move(*emu::EmuDevice::Create("emu:state=256MiB"));
      session = std::move(*dev->SetState(DeviceState::kResuming));
      off = 0;
      state.ResumeTiming();
    }
    size_t n = std::min(kChunk, stream->size() - off);
    auto w = session->Write(absl::MakeConstSpan(stream->data() + off, n));
    if (!w.ok()) state.SkipWithError("write failed");
    off += n;
    bytes += n;
  }
  SetRatio(state, bytes);
}
BENCHMARK(BM_EmuWrite)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_FsmPlanAllPairs(benchmark::State& state) {
  const MigrationFlags flags = kAllMigrationFlags;
  int64_t items = 0;
  for (auto _ : state) {
    for (uint32_t a = 1; a < kNumDeviceStates; ++a) {
      for (uint32_t b = 1; b < kNumDeviceStates; ++b) {
        auto p = PlanPath(flags, static_cast<DeviceState>(a),
                          static_cast<DeviceState>(b));
        benchmark::DoNotOptimize(p);
        ++items;
      }
    }
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_FsmPlanAllPairs);

}  // namespace
}  // namespace vmig::vfio

BENCHMARK_MAIN();
