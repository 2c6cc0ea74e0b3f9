#include "vfio/kernel/kernel_device.h"

#include <fcntl.h>
#include <poll.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "vfio/transition_log.h"
#include "vfio/uapi.h"

namespace vmig::vfio::kernel {
namespace {

// Runs a syscall, retrying while it is interrupted by a signal.
template <typename F>
auto RetryOnEintr(F f) {
  for (;;) {
    auto rc = f();
    if (rc >= 0 || errno != EINTR) return rc;
  }
}

// A migration data_fd.
class KernelDataSession final : public DataSession {
 public:
  KernelDataSession(SysFd fd, Syscalls& sys, bool resuming,
                    std::shared_ptr<KernelDevice::Shared> shared)
      : fd_(std::move(fd)),
        sys_(sys),
        resuming_(resuming),
        shared_(std::move(shared)) {}

  absl::StatusOr<ReadResult> Read(absl::Span<uint8_t> buf) override {
    // read() of 0 bytes returns 0, which would read as the end of the
    // stream: refused before it reaches the kernel.
    if (buf.empty()) return EmptyReadError();
    // The state is read before the read(): a device still in pre-copy when
    // the read began cannot have ended its stream. The uAPI says ENOMSG
    // there, but drivers return 0 too (the mtty sample does, as QEMU
    // tolerates), so 0 in pre-copy is "no more for now", never the end.
    const bool precopy = IsPreCopyState(shared_->state.load());
    ssize_t n = RetryOnEintr(
        [&] { return sys_.Read(fd_.get(), buf.data(), buf.size()); });
    if (n > 0) return ReadResult{ReadOutcome::kData, static_cast<size_t>(n)};
    if (n == 0 && precopy) return ReadResult{ReadOutcome::kNoMoreForNow, 0};
    if (n == 0) return ReadResult{ReadOutcome::kEndOfStream, 0};
    if (errno == ENOMSG) return ReadResult{ReadOutcome::kNoMoreForNow, 0};
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return ReadResult{ReadOutcome::kWouldBlock, 0};
    }
    return absl::ErrnoToStatus(errno, "read from migration data_fd");
  }

  absl::StatusOr<size_t> Write(absl::Span<const uint8_t> buf) override {
    ssize_t n = RetryOnEintr(
        [&] { return sys_.Write(fd_.get(), buf.data(), buf.size()); });
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
    return absl::ErrnoToStatus(errno, "write to migration data_fd");
  }

  absl::StatusOr<PrecopyInfo> GetPrecopyInfo() override {
    uapi::PrecopyInfo info = {};
    info.argsz = sizeof(info);
    int rc = RetryOnEintr(
        [&] { return sys_.Ioctl(fd_.get(), uapi::kMigGetPrecopyInfo, &info); });
    if (rc < 0) {
      return absl::ErrnoToStatus(errno, "VFIO_MIG_GET_PRECOPY_INFO");
    }
    // Without the v2 opt-in the kernel's flags must be ignored.
    const bool reinit = shared_->precopy_v2.load() &&
                        (info.flags & uapi::kPrecopyInfoReinit) != 0;
    return PrecopyInfo{info.initial_bytes, info.dirty_bytes, reinit};
  }

  int poll_fd() const override { return fd_.get(); }
  short ready_events() const override { return resuming_ ? POLLOUT : POLLIN; }

  absl::Status SetNonBlocking(bool nonblocking) override {
    int flags = sys_.Fcntl(fd_.get(), F_GETFL, 0);
    if (flags < 0) return absl::ErrnoToStatus(errno, "fcntl(F_GETFL)");
    flags = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (sys_.Fcntl(fd_.get(), F_SETFL, flags) < 0) {
      return absl::ErrnoToStatus(errno, "fcntl(F_SETFL)");
    }
    return absl::OkStatus();
  }

 private:
  SysFd fd_;
  Syscalls& sys_;
  const bool resuming_;
  std::shared_ptr<KernelDevice::Shared> shared_;
};

}  // namespace

KernelDevice::KernelDevice(std::string name, SysFd device_fd, Syscalls& sys,
                           std::vector<SysFd> keep_alive)
    : name_(std::move(name)),
      sys_(sys),
      keep_alive_(std::move(keep_alive)),
      fd_(std::move(device_fd)),
      shared_(std::make_shared<Shared>()) {}

absl::Status KernelDevice::Errno(int err, absl::string_view what) const {
  return absl::ErrnoToStatus(err, absl::StrCat(name_, ": ", what));
}

absl::Status KernelDevice::Feature(uint32_t flags, void* request,
                                   size_t request_size, absl::string_view what,
                                   int* err) {
  auto* header = static_cast<uapi::FeatureHeader*>(request);
  header->argsz = static_cast<uint32_t>(request_size);
  header->flags = flags;
  int rc = RetryOnEintr(
      [&] { return sys_.Ioctl(fd_.get(), uapi::kDeviceFeature, request); });
  const int saved = rc < 0 ? errno : 0;
  if (err != nullptr) *err = saved;
  if (rc < 0) return Errno(saved, what);
  return absl::OkStatus();
}

absl::StatusOr<MigrationFlags> KernelDevice::GetMigrationFlags() {
  uapi::FeatureRequest<uapi::FeatureMigration> req = {};
  int err = 0;
  absl::Status s = Feature(uapi::kFeatureGet | uapi::kFeatureMigration, &req,
                           sizeof(req), "VFIO_DEVICE_FEATURE_MIGRATION", &err);
  if (!s.ok()) {
    // Abseil maps ENOTTY to InvalidArgument; for this feature it means the
    // driver has no migration support at all.
    if (err == ENOTTY) {
      return absl::UnimplementedError(absl::StrCat(
          name_, ": the device's driver has no migration support"));
    }
    return s;
  }
  MigrationFlags flags(req.payload.flags);
  if (!flags.valid()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name_, ": the driver reports migration flags ",
                     flags.ToString(), ", which the uAPI does not define"));
  }
  return flags;
}

absl::StatusOr<DeviceState> KernelDevice::GetState() {
  uapi::FeatureRequest<uapi::FeatureMigState> req = {};
  absl::Status s =
      Feature(uapi::kFeatureGet | uapi::kFeatureMigDeviceState, &req,
              sizeof(req), "get VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE");
  if (!s.ok()) return s;
  std::optional<DeviceState> state =
      DeviceStateFromValue(req.payload.device_state);
  if (!state) {
    return absl::InternalError(absl::StrCat(
        name_, ": the kernel reports device state ", req.payload.device_state));
  }
  shared_->state.store(*state);
  return *state;
}

absl::StatusOr<std::unique_ptr<DataSession>> KernelDevice::SetState(
    DeviceState target) {
  const DeviceState from = shared_->state.load();
  const int64_t start = MonotonicNanos();
  absl::StatusOr<std::unique_ptr<DataSession>> r = RequestState(target);
  // The kernel walks the path itself: one record per request, so that the
  // lockstep checks see real devices as they see emulated ones.
  TransitionLog::Global().Record(
      {name_, from, target, start, MonotonicNanos(), r.ok(), false});
  return r;
}

absl::StatusOr<std::unique_ptr<DataSession>> KernelDevice::RequestState(
    DeviceState target) {
  uapi::FeatureRequest<uapi::FeatureMigState> req = {};
  req.payload.device_state = static_cast<uint32_t>(target);
  req.payload.data_fd = -1;
  absl::Status s = Feature(
      uapi::kFeatureSet | uapi::kFeatureMigDeviceState, &req, sizeof(req),
      absl::StrCat("set device state ", DeviceStateName(target)));
  if (!s.ok()) {
    // Say where the failed request left the device: the caller recovers
    // from there (a reset if it is ERROR).
    absl::StatusOr<DeviceState> now = GetState();
    return absl::Status(
        s.code(),
        absl::StrCat(s.message(), " (device is now ",
                     now.ok() ? DeviceStateName(*now) : "unknown", ")"));
  }
  shared_->state.store(target);
  if (req.payload.data_fd < 0) return std::unique_ptr<DataSession>();
  return std::unique_ptr<DataSession>(std::make_unique<KernelDataSession>(
      SysFd(sys_, req.payload.data_fd), sys_, target == DeviceState::kResuming,
      shared_));
}

absl::StatusOr<uint64_t> KernelDevice::GetStopCopyLength() {
  uapi::FeatureRequest<uapi::FeatureMigDataSize> req = {};
  absl::Status s = Feature(uapi::kFeatureGet | uapi::kFeatureMigDataSize, &req,
                           sizeof(req), "VFIO_DEVICE_FEATURE_MIG_DATA_SIZE");
  if (!s.ok()) return s;
  return req.payload.stop_copy_length;
}

absl::Status KernelDevice::EnablePrecopyInfoV2() {
  uapi::FeatureHeader req = {};
  absl::Status s =
      Feature(uapi::kFeatureSet | uapi::kFeatureMigPrecopyInfoV2, &req,
              sizeof(req), "VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2");
  if (s.ok()) shared_->precopy_v2.store(true);
  return s;
}

absl::Status KernelDevice::Reset() {
  int rc = RetryOnEintr(
      [&] { return sys_.Ioctl(fd_.get(), uapi::kDeviceReset, nullptr); });
  if (rc < 0) return Errno(errno, "VFIO_DEVICE_RESET");
  const int64_t now = MonotonicNanos();
  TransitionLog::Global().Record(
      {name_, shared_->state.exchange(DeviceState::kRunning),
       DeviceState::kRunning, now, now, true, true});
  return absl::OkStatus();
}

}  // namespace vmig::vfio::kernel
