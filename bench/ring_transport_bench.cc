// Micro-benchmarks of the data plane with DPDK in the process: two workers
// joined by a ring port (rte_eth_from_rings), driven on this thread through
// Worker::RunOnce() so that one core's cost is measured without scheduling
// noise between processes.
//   BM_RingTransport: whole device streams, sender and receiver loops
//     alternating on one core (emulated device read and write included).
//   BM_WorkerRxLoop / BM_WorkerTxLoop: one worker's frame loop alone; the
//     other side runs with the timer paused.
//   .../guarded: the same loop with the quiescent state a worker reports
//     after each pass (peer_memory_guard.h), so the guard's cost on the poll
//     path is a ratio within one run.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "common/clock.h"
#include "dataplane/eal.h"
#include "dataplane/peer_memory_guard.h"
#include "dataplane/port.h"
#include "dataplane/stream.h"
#include "dataplane/worker.h"
#include "vfio/emu/emu_device.h"

namespace vmig::dataplane {
namespace {

bool EnsureEal() {
  static const bool ok = [] {
    EalOptions o;
    o.lcores = "0";  // the benchmark thread drives both workers
    o.file_prefix = absl::StrCat("vmig-micro-", getpid());
    o.memory_mb = 0;  // hugepages if free, else --no-huge -m 512
    if (!InitEal(o).ok()) return false;
    std::atexit([] { CleanupEal(); });
    return true;
  }();
  return ok;
}

// Two ports joined by rings, each with its worker and counters.
class RingLink {
 public:
  static std::unique_ptr<RingLink> Make() {
    static int seq = 0;
    auto l = std::unique_ptr<RingLink>(new RingLink());
    const std::string pair = absl::StrCat("vmigbm", seq++);
    for (int side = 0; side < 2; ++side) {
      PortConfig c;
      c.name = side == 0 ? "a" : "b";
      c.kind = PortConfig::Kind::kRing;
      c.args = absl::StrCat(pair, side == 0 ? ":a" : ":b");
      c.mbufs = 4096;
      auto p = Port::Open(c);
      if (!p.ok()) return nullptr;
      l->ports_[side] = std::move(*p);
      l->ends_[side].ipv4 = 0xa9fe0001 + side;  // 169.254.0.1 / .2
      l->ends_[side].udp_port = 7700;
      l->ends_[side].mac = l->ports_[side]->mac();
      l->workers_[side] =
          std::make_unique<Worker>(*l->ports_[side], 0, l->ends_[side],
                                   FaultConfig(), l->counters_[side]);
    }
    return l;
  }
  ~RingLink() {
    for (auto& w : workers_) w.reset();  // before the ports they use
  }

  Worker& sender() { return *workers_[0]; }
  Worker& receiver() { return *workers_[1]; }
  const WorkerCounters& counters(bool receiver) const {
    return counters_[receiver ? 1 : 0];
  }

  // Starts `n` streams of `bytes` each from fresh emulated devices; the
  // destination devices get `dest_extra` appended to their spec (the first
  // `slow` of them only).
  void AddStreams(int n, uint64_t bytes, int slow = 0,
                  const std::string& dest_extra = "") {
    for (int i = 0; i < n; ++i) {
      const std::string spec = absl::StrCat("emu:state=", bytes, ",seed=", i);
      devs_.push_back(std::move(*vfio::emu::EmuDevice::Create(spec)));
      auto* src = devs_.back().get();
      devs_.push_back(std::move(
          *vfio::emu::EmuDevice::Create(i < slow ? spec + dest_extra : spec)));
      auto* dst = devs_.back().get();
      sessions_.push_back(
          std::move(*src->SetState(vfio::DeviceState::kStopCopy)));
      StreamSpec out;
      out.role = StreamRole::kSend;
      out.session_id = 1;
      out.session_token = 42;
      // The ring measures the transport's own machinery: no cipher (the
      // AEAD is measured on its own in aead_bench.cc).
      out.protection = Protection::kNone;
      out.stream_id = static_cast<uint32_t>(streams_.size() / 2);
      out.data = sessions_.back().get();
      out.peer = ends_[1];
      sessions_.push_back(
          std::move(*dst->SetState(vfio::DeviceState::kResuming)));
      StreamSpec in = out;
      in.role = StreamRole::kReceive;
      in.data = sessions_.back().get();
      in.peer = Endpoint();     // learned from the first frame...
      in.peer.udp_port = 7700;  // ...except the sender's listening port
      streams_.push_back(*Stream::Create(in));
      receiver().Submit(streams_.back().get());
      streams_.push_back(*Stream::Create(out));
      sender().Submit(streams_.back().get());
    }
  }
  bool AllFinished() const {
    for (const auto& s : streams_)
      if (!s->finished()) return false;
    return true;
  }
  // Stream i's receiving end (streams are added receiver first).
  Stream& receiving(int i) { return *streams_[2 * static_cast<size_t>(i)]; }
  // Runs both loops until every stream is released, then checks that each
  // destination loaded its source's state.
  bool DrainAndVerify() {
    for (int i = 0; i < 10'000'000; ++i) {
      bool released = true;
      for (const auto& s : streams_) released = released && s->released();
      if (released) break;
      // A finished receiver lingers for the sender's CLOSE.
      sender().RunOnce();
      receiver().RunOnce();
    }
    bool ok = true;
    for (const auto& s : streams_) ok = ok && s->state() == Stream::kDone;
    streams_.clear();
    for (size_t i = 0; i < devs_.size(); i += 2) {
      sessions_[i + 1].reset();  // end of RESUMING
      ok = ok && devs_[i + 1]->SetState(vfio::DeviceState::kStop).ok() &&
           devs_[i + 1]->StateDigest() == devs_[i]->StateDigest();
    }
    sessions_.clear();
    devs_.clear();
    return ok;
  }
  void CancelAll() {
    for (const auto& s : streams_) s->Cancel();
    for (int i = 0; i < 100; ++i) {
      sender().RunOnce();
      receiver().RunOnce();
    }
    streams_.clear();
    sessions_.clear();
    devs_.clear();
  }

 private:
  RingLink() = default;
  std::unique_ptr<Port> ports_[2];
  Endpoint ends_[2];
  WorkerCounters counters_[2];
  std::unique_ptr<Worker> workers_[2];
  std::vector<std::unique_ptr<vfio::emu::EmuDevice>> devs_;
  std::vector<std::unique_ptr<vfio::DataSession>> sessions_;
  std::vector<std::shared_ptr<Stream>> streams_;
};

void BM_RingTransport(benchmark::State& state) {
  if (!EnsureEal()) return state.SkipWithError("EAL init failed");
  auto link = RingLink::Make();
  if (!link) return state.SkipWithError("ring port failed");
  const int streams = static_cast<int>(state.range(0));
  const uint64_t per_stream = (64ull << 20) / streams;
  for (auto _ : state) {
    state.PauseTiming();
    link->AddStreams(streams, per_stream);
    state.ResumeTiming();
    while (!link->AllFinished()) {
      link->sender().RunOnce();
      link->receiver().RunOnce();
    }
    state.PauseTiming();
    if (!link->DrainAndVerify()) {
      state.SkipWithError("a destination did not verify");
      break;
    }
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(per_stream * streams));
}
BENCHMARK(BM_RingTransport)->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond);

// One worker's loop over a full ring of frames; `rx` picks which side is
// timed. A 64 GiB emulated stream (generated as read) never runs dry.
// `guarded`: each pass ends with the quiescent state Worker::Run reports.
void WorkerLoop(benchmark::State& state, bool rx, bool guarded) {
  if (!EnsureEal()) return state.SkipWithError("EAL init failed");
  auto link = RingLink::Make();
  if (!link) return state.SkipWithError("ring port failed");
  link->AddStreams(1, 64ull << 30);
  // The timed side's own count: frames it received, or sent.
  const WorkerCounters& c = link->counters(rx);
  const auto& frame_count = c.value[rx ? kRxFrames : kTxFrames];
  const auto& byte_count = c.value[rx ? kRxBytes : kTxBytes];
  const uint64_t frames0 = frame_count.load(), bytes0 = byte_count.load();
  // This thread is EAL's main lcore, so it joins the quiescence domain as a
  // worker lcore does.
  std::optional<WorkerQuiescence> quiescence;
  if (guarded) quiescence.emplace();
  for (auto _ : state) {
    // The untimed side: the sender fills its window (the receiver's acks
    // from the last round open it again), or the receiver drains and acks.
    state.PauseTiming();
    Worker& other = rx ? link->sender() : link->receiver();
    for (int i = 0; i < 64 && other.RunOnce(); ++i) {
    }
    state.ResumeTiming();
    Worker& timed = rx ? link->receiver() : link->sender();
    if (guarded) {
      for (int i = 0; i < 64 && timed.RunOnce(); ++i) {
        quiescence->Quiescent();
      }
    } else {
      for (int i = 0; i < 64 && timed.RunOnce(); ++i) {
      }
    }
  }
  const uint64_t frames = frame_count.load() - frames0;
  state.SetItemsProcessed(static_cast<int64_t>(frames));
  state.SetBytesProcessed(static_cast<int64_t>(byte_count.load() - bytes0));
  state.counters["frames_per_round"] = benchmark::Counter(
      static_cast<double>(frames) / static_cast<double>(state.iterations()));
  link->CancelAll();
}

void BM_WorkerRxLoop(benchmark::State& state) {
  WorkerLoop(state, true, state.range(0) != 0);
}
void BM_WorkerTxLoop(benchmark::State& state) {
  WorkerLoop(state, false, state.range(0) != 0);
}
BENCHMARK(BM_WorkerRxLoop)
    ->ArgName("guarded")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_WorkerTxLoop)
    ->ArgName("guarded")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond);

// Four streams into one receiving worker, one destination device throttled
// to 64 MiB/s (arg 1) or none (arg 0, the baseline): the worker must never
// wait on the slow device. Reports the longest receive loop, how many loops
// took over 1 ms, and when the three fast streams finished (compare with
// the baseline's), and what share of the slow stream was in by then.
void BM_ReceiveWithASlowDevice(benchmark::State& state) {
  if (!EnsureEal()) return state.SkipWithError("EAL init failed");
  auto link = RingLink::Make();
  if (!link) return state.SkipWithError("ring port failed");
  const int slow = static_cast<int>(state.range(0));
  constexpr uint64_t kBytes = 16ull << 20;
  int64_t max_loop = 0, over_1ms = 0, loops = 0;
  double fast_ms = 0, slow_share = 0;
  for (auto _ : state) {
    state.PauseTiming();
    link->AddStreams(4, kBytes, slow, ",write_bw=64MiB/s");
    state.ResumeTiming();
    const int64_t start = MonotonicNanos();
    auto fast_done = [&] {
      for (int i = slow; i < 4; ++i)
        if (!link->receiving(i).finished()) return false;
      return true;
    };
    while (!fast_done()) {
      link->sender().RunOnce();
      const int64_t t = MonotonicNanos();
      link->receiver().RunOnce();
      const int64_t took = MonotonicNanos() - t;
      max_loop = std::max(max_loop, took);
      over_1ms += took > 1'000'000;
      ++loops;
    }
    fast_ms += (MonotonicNanos() - start) / 1e6;
    if (slow) {
      slow_share +=
          static_cast<double>(link->receiving(0).Stats().device_bytes) /
          static_cast<double>(kBytes);
    }
    state.PauseTiming();
    link->CancelAll();
    state.ResumeTiming();
  }
  const double n = static_cast<double>(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>((4 - slow) * kBytes));
  state.counters["max_rx_loop_us"] = static_cast<double>(max_loop) / 1e3;
  state.counters["rx_loops_over_1ms"] = static_cast<double>(over_1ms);
  state.counters["rx_loops"] = static_cast<double>(loops);
  state.counters["fast_streams_done_ms"] = fast_ms / n;
  state.counters["slow_stream_share_then"] = slow_share / n;
}
BENCHMARK(BM_ReceiveWithASlowDevice)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace
}  // namespace vmig::dataplane
