// Faults injected on transmit, for tests and chaos runs: this kernel has no
// netem, so the transport degrades its own link. Decisions only; the worker
// applies them to mbufs.
#ifndef VMIGD_DATAPLANE_FAULT_INJECTOR_H_
#define VMIGD_DATAPLANE_FAULT_INJECTOR_H_

#include <cstdint>
#include <random>

namespace vmig::dataplane {

struct FaultConfig {
  double drop = 0, duplicate = 0, reorder = 0, corrupt = 0, delay = 0;
  int64_t delay_ns = 200'000;   // how long a delayed frame is held
  int64_t reorder_ns = 20'000;  // how long a reordered frame is held back
  uint64_t seed = 1;
  // A worker that has received and sent this many frames stops making
  // progress (it sleeps without polling until told to stop): a hung worker,
  // for the watchdog's tests. 0: never.
  uint64_t hang_worker_after_frames = 0;
  bool any() const {
    return drop > 0 || duplicate > 0 || reorder > 0 || corrupt > 0 || delay > 0;
  }
};

enum class FaultAction { kPass, kDrop, kDuplicate, kReorder, kCorrupt, kDelay };

class FaultInjector {
 public:
  explicit FaultInjector(const FaultConfig& c) : config_(c), rng_(c.seed) {}
  // One decision per transmitted frame; at most one fault each.
  FaultAction Decide() {
    if (!config_.any()) return FaultAction::kPass;
    double x = uniform_(rng_);
    if ((x -= config_.drop) < 0) return FaultAction::kDrop;
    if ((x -= config_.duplicate) < 0) return FaultAction::kDuplicate;
    if ((x -= config_.reorder) < 0) return FaultAction::kReorder;
    if ((x -= config_.corrupt) < 0) return FaultAction::kCorrupt;
    if ((x -= config_.delay) < 0) return FaultAction::kDelay;
    return FaultAction::kPass;
  }
  // Which byte of a frame of `len` bytes to flip.
  uint32_t PickByte(uint32_t len) {
    return static_cast<uint32_t>(rng_() % len);
  }
  const FaultConfig& config() const { return config_; }

 private:
  FaultConfig config_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_FAULT_INJECTOR_H_
