// Paces a device's read or write side to a bandwidth, like the device's own
// DMA engine would: each transfer of n bytes occupies n / rate seconds.
#ifndef VMIGD_VFIO_EMU_THROTTLE_H_
#define VMIGD_VFIO_EMU_THROTTLE_H_

#include <algorithm>
#include <cstdint>

namespace vmig::vfio::emu {

class Throttle {
 public:
  // rate 0: unlimited.
  explicit Throttle(double bytes_per_s) : rate_(bytes_per_s) {}

  // How long to wait before the next transfer may start.
  int64_t WaitNanos(int64_t now) const {
    return rate_ > 0 ? std::max<int64_t>(0, busy_until_ - now) : 0;
  }
  int64_t ready_at() const { return busy_until_; }
  // Accounts n bytes transferred at `now`. Idle time does not bank more than
  // a short burst, so a long pause is not followed by a flood.
  void Charge(int64_t now, uint64_t n) {
    if (rate_ <= 0) return;
    busy_until_ = std::max(busy_until_, now - kMaxBurstNanos) +
                  static_cast<int64_t>(static_cast<double>(n) * 1e9 / rate_);
  }

 private:
  static constexpr int64_t kMaxBurstNanos = 1000000;  // 1 ms
  double rate_;
  int64_t busy_until_ = 0;
};

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_THROTTLE_H_
