#include "vfio/local_migration.h"

#include <poll.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "vfio/device_group.h"

namespace vmig::vfio {
namespace {

// Moves bytes from a saving session into a resuming one.
class Pump {
 public:
  Pump(DataSession& src, DataSession& dst, const LocalMigrationOptions& o)
      : src_(src), dst_(dst), opts_(o), buf_(o.chunk_bytes) {}

  // Reads one chunk and writes it on. Returns the read outcome.
  absl::StatusOr<ReadOutcome> Step(uint64_t& counter) {
    absl::StatusOr<ReadResult> r = src_.Read(absl::MakeSpan(buf_));
    if (!r.ok()) return r.status();
    if (r->outcome != ReadOutcome::kData) return r->outcome;
    absl::Span<uint8_t> chunk(buf_.data(), r->bytes);
    const uint64_t offset = offset_;
    offset_ += r->bytes;
    counter += r->bytes;
    if (opts_.chunk_filter && !opts_.chunk_filter(offset, chunk)) {
      return ReadOutcome::kData;  // dropped
    }
    if (absl::Status s = WriteAll(dst_, chunk); !s.ok()) return s;
    return ReadOutcome::kData;
  }

 private:
  DataSession& src_;
  DataSession& dst_;
  const LocalMigrationOptions& opts_;
  std::vector<uint8_t> buf_;
  uint64_t offset_ = 0;
};

absl::Status WaitReadable(DataSession& s, absl::Duration timeout) {
  pollfd pfd = {.fd = s.poll_fd(), .events = s.ready_events(), .revents = 0};
  int rc =
      ::poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (rc < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
  return absl::OkStatus();
}

absl::Status Migrate(MigrationDevice& source, MigrationDevice& destination,
                     const LocalMigrationOptions& opts,
                     LocalMigrationResult& result) {
  absl::StatusOr<MigrationFlags> flags = source.GetMigrationFlags();
  if (!flags.ok()) return flags.status();

  absl::StatusOr<std::unique_ptr<DataSession>> in =
      destination.SetState(DeviceState::kResuming);
  if (!in.ok()) return in.status();
  if (!*in) return absl::InternalError("RESUMING opened no data session");

  std::unique_ptr<DataSession> out;
  const absl::Time precopy_start = absl::Now();
  if (flags->has(kMigPreCopy)) {
    absl::StatusOr<std::unique_ptr<DataSession>> s =
        source.SetState(DeviceState::kPreCopy);
    if (!s.ok()) return s.status();
    out = std::move(*s);
    Pump pump(*out, **in, opts);
    for (;;) {
      absl::StatusOr<PrecopyInfo> info = out->GetPrecopyInfo();
      if (!info.ok()) return info.status();
      if ((info->initial_bytes == 0 &&
           info->dirty_bytes <= opts.switchover_dirty_bytes) ||
          absl::Now() - precopy_start > opts.max_precopy) {
        break;
      }
      absl::StatusOr<ReadOutcome> o = pump.Step(result.precopy_bytes);
      if (!o.ok()) return o.status();
      if (*o == ReadOutcome::kNoMoreForNow) {
        ++result.precopy_rounds;
        if (absl::Status w = WaitReadable(*out, absl::Milliseconds(50));
            !w.ok()) {
          return w;
        }
      }
    }
    result.precopy_time = absl::Now() - precopy_start;
  }

  const absl::Time down_start = absl::Now();
  const DeviceState quiesce =
      flags->has(kMigP2P)
          ? (out ? DeviceState::kPreCopyP2P : DeviceState::kRunningP2P)
          : (out ? DeviceState::kPreCopy : DeviceState::kRunning);
  if (absl::StatusOr<std::unique_ptr<DataSession>> s = source.SetState(quiesce);
      !s.ok()) {
    return s.status();
  }
  absl::StatusOr<std::unique_ptr<DataSession>> s =
      source.SetState(DeviceState::kStopCopy);
  if (!s.ok()) return s.status();
  if (*s) out = std::move(*s);
  if (!out) return absl::InternalError("STOP_COPY opened no data session");
  Pump pump(*out, **in, opts);
  for (;;) {
    absl::StatusOr<ReadOutcome> o = pump.Step(result.stopcopy_bytes);
    if (!o.ok()) return o.status();
    if (*o == ReadOutcome::kEndOfStream) break;
    if (*o == ReadOutcome::kNoMoreForNow) {
      return absl::DataLossError("device returned ENOMSG in STOP_COPY");
    }
  }
  if (auto st = destination.SetState(DeviceState::kStop); !st.ok()) {
    return st.status();
  }
  if (!opts.leave_destination_stopped) {
    if (auto st = destination.SetState(DeviceState::kRunning); !st.ok()) {
      return st.status();
    }
  }
  result.downtime = absl::Now() - down_start;
  // The source stops only after the destination has the state (off the
  // downtime path, as QEMU defers STOP_COPY -> STOP).
  if (auto st = source.SetState(DeviceState::kStop); !st.ok())
    return st.status();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LocalMigrationResult> MigrateLocally(
    MigrationDevice& source, MigrationDevice& destination,
    const LocalMigrationOptions& options) {
  LocalMigrationResult result;
  absl::Status s = Migrate(source, destination, options, result);
  if (!s.ok()) {
    absl::StatusOr<DeviceState> src_state = source.GetState();
    // Once the source reached STOP the destination runs: nothing to undo.
    if (!src_state.ok() || *src_state != DeviceState::kStop) {
      // Borrowed, not owned: the group outlives neither device.
      DeviceGroup group;
      auto borrow = [](MigrationDevice& d) {
        return std::shared_ptr<MigrationDevice>(&d, [](MigrationDevice*) {});
      };
      (void)group.Add("source", borrow(source), Recovery::kResume);
      (void)group.Add("destination", borrow(destination), Recovery::kReset);
      (void)group.Recover();
    }
    return s;
  }
  return result;
}

}  // namespace vmig::vfio
