// The anti-replay window of one stream's incoming frames, on their packet
// numbers (as IPsec's ESP does, RFC 4303 3.4.3): the highest number
// accepted and a bitmap of the kBits below it. A frame is checked before
// its tag (cheap refusal of what was seen) and marked only once authentic,
// so that forgeries cannot move the window.
#ifndef VMIGD_DATAPLANE_REPLAY_WINDOW_H_
#define VMIGD_DATAPLANE_REPLAY_WINDOW_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace vmig::dataplane {

class ReplayWindow {
 public:
  // Wide enough for the reordering a fault injector or a multi-queue NIC
  // causes; a frame older than that is refused and retransmitted.
  static constexpr uint64_t kBits = 4096;
  enum class Verdict { kFresh, kReplayed, kTooOld };

  Verdict Check(uint64_t pn) const {
    if (pn == 0) return Verdict::kTooOld;  // numbers start at 1
    if (pn > top_) return Verdict::kFresh;
    if (top_ - pn >= kBits) return Verdict::kTooOld;
    return Seen(pn) ? Verdict::kReplayed : Verdict::kFresh;
  }

  // `pn` passed Check() and authenticated.
  void Accept(uint64_t pn) {
    if (pn > top_) {
      const uint64_t shift = pn - top_;
      if (shift >= kBits) {
        bits_.fill(0);
      } else {
        for (uint64_t p = top_ + 1; p < pn; ++p) Clear(p);
      }
      top_ = pn;
    }
    Set(pn);
  }

  uint64_t top() const { return top_; }

 private:
  static constexpr size_t kWords = kBits / 64;
  bool Seen(uint64_t pn) const {
    return bits_[(pn / 64) % kWords] >> (pn % 64) & 1;
  }
  void Set(uint64_t pn) {
    bits_[(pn / 64) % kWords] |= uint64_t{1} << (pn % 64);
  }
  void Clear(uint64_t pn) {
    bits_[(pn / 64) % kWords] &= ~(uint64_t{1} << (pn % 64));
  }

  uint64_t top_ = 0;
  std::array<uint64_t, kWords> bits_{};
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_REPLAY_WINDOW_H_
