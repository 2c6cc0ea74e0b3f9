#include "vfio/device.h"

#include <poll.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace vmig::vfio {

absl::Status EmptyReadError() {
  return absl::InvalidArgumentError(
      "a data_fd read needs room for at least one byte");
}

absl::Status WriteAll(DataSession& session, absl::Span<const uint8_t> buf,
                      absl::Duration timeout) {
  while (!buf.empty()) {
    absl::StatusOr<size_t> n = session.Write(buf);
    if (!n.ok()) return n.status();
    if (*n > 0) {
      buf.remove_prefix(*n);
      continue;
    }
    pollfd pfd = {.fd = session.poll_fd(),
                  .events = session.ready_events(),
                  .revents = 0};
    int rc =
        ::poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    if (rc == 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "device accepted no data for ", absl::FormatDuration(timeout)));
    }
    if (rc < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "poll on data session");
    }
  }
  return absl::OkStatus();
}

}  // namespace vmig::vfio
