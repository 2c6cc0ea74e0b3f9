#include "bench/pipeline_ceiling.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "bench/baselines.h"
#include "bench/pin_thread.h"

namespace vmig::bench {
namespace {

// Each index on a cache line of its own, so that the two threads do not
// bounce one line for both.
struct alignas(64) Index {
  std::atomic<uint64_t> value{0};
};

// A frame buffer and what the sender put in it.
struct Slot {
  uint8_t* data = nullptr;
  uint32_t bytes = 0;
  int stream = 0;
};

inline void Relax() { __builtin_ia32_pause(); }

}  // namespace

absl::StatusOr<PipelineCeilingResult> PipelineCeiling(
    const PipelineCeilingConfig& c) {
  if (c.streams < 1 || c.buffers < 1 || c.frame_bytes < 1)
    return absl::InvalidArgumentError("pipeline ceiling: empty configuration");
  absl::StatusOr<BaselineDevices> devices =
      MakeBaselineDevices(c.streams, c.bytes);
  if (!devices.ok()) return devices.status();
  // The frame buffers, one region as memif's, each frame cache-line aligned.
  const size_t stride = (size_t{c.frame_bytes} + 63) / 64 * 64;
  std::vector<uint8_t> region(stride * c.buffers + 64);
  uint8_t* base = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(region.data()) + 63) / 64 * 64);
  std::vector<Slot> slots(c.buffers);
  for (uint32_t i = 0; i < c.buffers; ++i) slots[i].data = base + i * stride;
  // The sender fills slot h % buffers while h - tail < buffers and
  // publishes it by advancing `head`; the receiver frees slot t % buffers,
  // once it has copied the frame out, by advancing `tail`.
  Index head, tail;
  std::atomic<bool> sender_done{false}, failed{false}, go{false};

  std::thread sender([&] {
    PinThisThreadTo(c.sender_cpu);
    while (!go.load(std::memory_order_acquire)) Relax();
    std::vector<bool> ended(c.streams, false);
    int live = c.streams;
    uint64_t h = 0;
    while (live > 0 && !failed.load(std::memory_order_relaxed)) {
      for (int s = 0; s < c.streams; ++s) {
        if (ended[s]) continue;
        while (h - tail.value.load(std::memory_order_acquire) >= c.buffers) {
          if (failed.load(std::memory_order_relaxed)) return;
          Relax();
        }
        Slot& slot = slots[h % c.buffers];
        absl::StatusOr<vfio::ReadResult> r =
            devices->out[s]->Read(absl::MakeSpan(slot.data, c.frame_bytes));
        if (!r.ok()) {
          failed = true;
          return;
        }
        if (r->outcome == vfio::ReadOutcome::kEndOfStream) {
          ended[s] = true;
          --live;
          continue;
        }
        if (r->bytes == 0) continue;
        slot.bytes = static_cast<uint32_t>(r->bytes);
        slot.stream = s;
        head.value.store(++h, std::memory_order_release);
      }
    }
    sender_done.store(true, std::memory_order_release);
  });

  std::thread receiver([&] {
    PinThisThreadTo(c.receiver_cpu);
    // What memif's server copies each frame into: a buffer of its own,
    // reused while the cache holds it.
    std::vector<uint8_t> copy(c.frame_bytes);
    while (!go.load(std::memory_order_acquire)) Relax();
    uint64_t t = 0;
    for (;;) {
      if (t == head.value.load(std::memory_order_acquire)) {
        if (failed.load(std::memory_order_relaxed)) return;
        // Read `done` before `head` again: a frame published before it is
        // seen by the second look.
        if (sender_done.load(std::memory_order_acquire) &&
            t == head.value.load(std::memory_order_acquire)) {
          return;
        }
        Relax();
        continue;
      }
      const Slot slot = slots[t % c.buffers];
      std::memcpy(copy.data(), slot.data, slot.bytes);
      tail.value.store(++t, std::memory_order_release);
      if (!vfio::WriteAll(*devices->in[slot.stream],
                          absl::MakeConstSpan(copy.data(), slot.bytes))
               .ok()) {
        failed = true;
        return;
      }
    }
  });

  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  sender.join();
  receiver.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  PipelineCeilingResult result;
  result.bytes_per_second =
      static_cast<double>(devices->per_stream * c.streams) / seconds;
  result.verified = !failed && devices->Verify();
  return result;
}

}  // namespace vmig::bench
