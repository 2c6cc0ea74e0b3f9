#include "daemon/link_probe.h"

#include <poll.h>

#include <algorithm>
#include <cstring>

namespace vmig::daemon {

absl::StatusOr<vfio::ReadResult> ProbeSource::Read(absl::Span<uint8_t> buf) {
  if (left_ == 0) return vfio::ReadResult{vfio::ReadOutcome::kEndOfStream, 0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(left_, buf.size()));
  // Filler: the bytes only have to cost what state costs on the wire (the
  // AEAD's work does not depend on them).
  std::memset(buf.data(), 0xa5, n);
  left_ -= n;
  return vfio::ReadResult{vfio::ReadOutcome::kData, n};
}

absl::StatusOr<size_t> ProbeSource::Write(absl::Span<const uint8_t>) {
  return absl::FailedPreconditionError("the link probe's source is read-only");
}

absl::StatusOr<vfio::PrecopyInfo> ProbeSource::GetPrecopyInfo() {
  return absl::FailedPreconditionError("the link probe has no pre-copy");
}

short ProbeSource::ready_events() const { return POLLIN; }

absl::StatusOr<vfio::ReadResult> ProbeSink::Read(absl::Span<uint8_t>) {
  return absl::FailedPreconditionError("the link probe's sink is write-only");
}

absl::StatusOr<vfio::PrecopyInfo> ProbeSink::GetPrecopyInfo() {
  return absl::FailedPreconditionError("the link probe has no pre-copy");
}

short ProbeSink::ready_events() const { return POLLOUT; }

}  // namespace vmig::daemon
