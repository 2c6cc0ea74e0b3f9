// Paces a device's read or write side to a bandwidth, like the device's own
// DMA engine would: each transfer of n bytes occupies n / rate seconds.
#ifndef VMIGD_VFIO_EMU_THROTTLE_H_
#define VMIGD_VFIO_EMU_THROTTLE_H_

#include <algorithm>
#include <cstdint>

namespace vmig::vfio::emu {

class Throttle {
 public:
  // rate 0: unlimited. `bank_nanos`: how much of the engine's time can run
  // ahead of the side that consumes it, while that side is away. A saving
  // device with B bytes of buffers saves ahead by B / rate (mlx5 keeps two
  // 8 MiB chunks saving while its reader is away); beyond that it stalls,
  // so a long pause is not followed by a flood.
  Throttle(double bytes_per_s, int64_t bank_nanos)
      : rate_(bytes_per_s), bank_nanos_(bank_nanos) {}

  // How long to wait before the next transfer may start.
  int64_t WaitNanos(int64_t now) const {
    return rate_ > 0 ? std::max<int64_t>(0, busy_until_ - now) : 0;
  }
  int64_t ready_at() const { return busy_until_; }
  // Accounts n bytes transferred at `now`.
  void Charge(int64_t now, uint64_t n) {
    if (rate_ <= 0) return;
    busy_until_ = std::max(busy_until_, now - bank_nanos_) +
                  static_cast<int64_t>(static_cast<double>(n) * 1e9 / rate_);
  }
  // The engine starts its work at `now` with nothing done ahead: what a
  // device does when it is told to save (the arc into a saving state). A
  // transfer still being paced for keeps its time.
  void Restart(int64_t now) { busy_until_ = std::max(busy_until_, now); }

 private:
  double rate_;
  int64_t bank_nanos_;
  int64_t busy_until_ = 0;
};

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_THROTTLE_H_
