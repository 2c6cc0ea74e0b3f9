// The link probe: right after the handshake the source streams a few MiB
// that are no device's state through the real data plane (framing, AEAD,
// flow control, both workers), and the destination throws them away. Its
// rate is the prediction's first link rate, measured rather than assumed.
// Both ends are DataSessions, so the probe takes the same path as state.
#ifndef VMIGD_DAEMON_LINK_PROBE_H_
#define VMIGD_DAEMON_LINK_PROBE_H_

#include <cstdint>

#include "vfio/device.h"

namespace vmig::daemon {

// How much the source sends unless configured otherwise: enough to fill
// the flow's window many times over, little enough to cost a few ms.
inline constexpr uint64_t kDefaultProbeBytes = 16ull << 20;
inline constexpr uint64_t kMaxProbeBytes = 64ull << 20;

// Yields `bytes` of filler, then end of stream.
class ProbeSource final : public vfio::DataSession {
 public:
  explicit ProbeSource(uint64_t bytes) : left_(bytes) {}
  absl::StatusOr<vfio::ReadResult> Read(absl::Span<uint8_t> buf) override;
  absl::StatusOr<size_t> Write(absl::Span<const uint8_t>) override;
  absl::StatusOr<vfio::PrecopyInfo> GetPrecopyInfo() override;
  int poll_fd() const override { return -1; }
  short ready_events() const override;
  absl::Status SetNonBlocking(bool) override { return absl::OkStatus(); }

 private:
  uint64_t left_;
};

// Takes every byte and keeps none (only the count).
class ProbeSink final : public vfio::DataSession {
 public:
  absl::StatusOr<vfio::ReadResult> Read(absl::Span<uint8_t>) override;
  absl::StatusOr<size_t> Write(absl::Span<const uint8_t> buf) override {
    received_ += buf.size();
    return buf.size();
  }
  absl::StatusOr<vfio::PrecopyInfo> GetPrecopyInfo() override;
  int poll_fd() const override { return -1; }
  short ready_events() const override;
  absl::Status SetNonBlocking(bool) override { return absl::OkStatus(); }
  uint64_t received() const { return received_; }

 private:
  uint64_t received_ = 0;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_LINK_PROBE_H_
