#include "tests/vfio/conformance/backends.h"

#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "tests/vfio/kernel/fake_vfio_kernel.h"
#include "vfio/emu/emu_device.h"
#include "vfio/kernel/device_open.h"
#include "vfio/kernel/kernel_device.h"
#include "vfio/uapi.h"

namespace vmig::vfio::conformance {

int RecordingSyscalls::Open(const char* path, int flags) {
  return Note(inner_.Open(path, flags));
}
int RecordingSyscalls::Ioctl(int fd, unsigned long request, void* arg) {
  return Note(inner_.Ioctl(fd, request, arg));
}
ssize_t RecordingSyscalls::Read(int fd, void* buf, size_t n) {
  last_read_ = Note(inner_.Read(fd, buf, n));
  return last_read_;
}
ssize_t RecordingSyscalls::Write(int fd, const void* buf, size_t n) {
  return Note(inner_.Write(fd, buf, n));
}

namespace {

// A raw MIG_DEVICE_STATE SET on a kernel device: 0 or the errno.
int RawSet(kernel::Syscalls& sys, int fd, uint32_t value) {
  uapi::FeatureRequest<uapi::FeatureMigState> req = {};
  req.header.argsz = sizeof(req);
  req.header.flags = uapi::kFeatureSet | uapi::kFeatureMigDeviceState;
  req.payload.device_state = value;
  req.payload.data_fd = -1;
  if (sys.Ioctl(fd, uapi::kDeviceFeature, &req) < 0) return errno;
  if (req.payload.data_fd >= 0) sys.Close(req.payload.data_fd);
  return 0;
}

class EmuBackend final : public Backend {
 public:
  explicit EmuBackend(MigrationFlags flags) : flags_(flags) {}
  std::string name() const override { return "emu"; }
  MigrationFlags flags() const override { return flags_; }
  absl::Status Prepare() override {
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<std::unique_ptr<emu::EmuDevice>> d =
          emu::EmuDevice::Create(absl::StrCat(
              "emu:name=emu", i, ",state=64KiB,block=4KiB,seed=", 7 + i,
              ",flags=", flags_.ToString()));
      if (!d.ok()) return d.status();
      devices_[i] = std::move(*d);
    }
    return absl::OkStatus();
  }
  MigrationDevice& device(int index) override { return *devices_[index]; }

 private:
  const MigrationFlags flags_;
  std::unique_ptr<emu::EmuDevice> devices_[2];
};

// What the fake and the real kernel backends share: two KernelDevices whose
// syscalls go through a RecordingSyscalls, so that a case can read the
// errno and the raw read() result behind an outcome. A derived class owns
// the recorder and closes the devices before it goes (DropDevices).
class SyscallBackend : public Backend {
 public:
  MigrationDevice& device(int index) override { return *devices_[index]; }
  std::optional<int> last_errno() const override { return rec_->last_errno(); }
  std::optional<ssize_t> last_read() const override {
    return rec_->last_read();
  }
  void ClearErrno() override { rec_->Clear(); }
  std::optional<int> RawSetState(int index, uint32_t value) override {
    return RawSet(*rec_, devices_[index]->fd(), value);
  }

 protected:
  void DropDevices() {
    for (auto& d : devices_) d.reset();
  }
  RecordingSyscalls* rec_ = nullptr;
  std::unique_ptr<kernel::KernelDevice> devices_[2];
};

// Each Prepare() makes a new fake kernel with two devices whose saving
// stream is a 24-byte pre-copy part and a 64-byte stop-copy part (the
// shape of an mtty with one port).
class FakeBackend final : public SyscallBackend {
 public:
  explicit FakeBackend(MigrationFlags flags) : flags_(flags) {}
  ~FakeBackend() override { DropDevices(); }
  std::string name() const override { return "fake"; }
  MigrationFlags flags() const override { return flags_; }
  absl::Status Prepare() override {
    DropDevices();
    recorder_.reset();
    fake_ = std::make_unique<kernel::FakeVfioKernel>();
    recorder_ = std::make_unique<RecordingSyscalls>(*fake_);
    rec_ = recorder_.get();
    for (int i = 0; i < 2; ++i) {
      const std::string cdev = absl::StrCat("/dev/vfio/devices/vfio", i);
      kernel::FakeVfioKernel::Device& d = fake_->AddDevice(
          cdev, absl::StrCat("/dev/vfio/", i), absl::StrCat("0000:00:0", i));
      d.flags = flags_.bits();
      d.precopy_data = std::string(24, 'h');
      d.stopcopy_data = std::string(64, 's');
      d.stop_copy_length = 88;
      d.initial_bytes = 24;
      d.resume_bytes = 88;
      d.resume_header = d.precopy_data;
      devices_[i] = std::make_unique<kernel::KernelDevice>(
          absl::StrCat("fake", i),
          kernel::SysFd(*rec_, fake_->OpenDeviceDirect(cdev)), *rec_);
    }
    return absl::OkStatus();
  }

 private:
  const MigrationFlags flags_;
  std::unique_ptr<kernel::FakeVfioKernel> fake_;
  std::unique_ptr<RecordingSyscalls> recorder_;
};

class KernelBackend final : public SyscallBackend {
 public:
  KernelBackend() : recorder_(kernel::Syscalls::Real()) { rec_ = &recorder_; }
  ~KernelBackend() override { DropDevices(); }
  absl::Status Open(
      const std::vector<std::pair<std::string, std::string>>& mdevs) {
    if (mdevs.size() < 2) {
      return absl::InvalidArgumentError("the kernel backend needs two mdevs");
    }
    for (int i = 0; i < 2; ++i) {
      const auto& [uuid, group] = mdevs[i];
      absl::StatusOr<std::unique_ptr<kernel::KernelDevice>> d =
          kernel::OpenGroupDevice(uuid, group, uuid, recorder_);
      if (!d.ok()) return d.status();
      devices_[i] = std::move(*d);
    }
    absl::StatusOr<MigrationFlags> f = devices_[0]->GetMigrationFlags();
    if (!f.ok()) return f.status();
    flags_ = *f;
    return absl::OkStatus();
  }
  std::string name() const override { return "kernel"; }
  MigrationFlags flags() const override { return flags_; }
  absl::Status Prepare() override {
    for (auto& d : devices_) {
      if (absl::Status s = d->Reset(); !s.ok()) return s;
      absl::StatusOr<DeviceState> st = d->GetState();
      if (!st.ok()) return st.status();
      if (*st != DeviceState::kRunning) {
        return absl::InternalError(absl::StrCat(
            d->name(), " is ", DeviceStateName(*st), " after a reset"));
      }
    }
    return absl::OkStatus();
  }
  std::string HandOverDeviceFd() override {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
      return absl::StrCat("socketpair: errno ", errno);
    UniqueFd a(sv[0]), b(sv[1]);
    if (absl::Status s = kernel::SendDeviceFd(a.get(), devices_[0]->name(),
                                              devices_[0]->fd());
        !s.ok()) {
      return absl::StrCat("send: ", s.ToString());
    }
    absl::StatusOr<kernel::ReceivedFd> got = kernel::ReceiveDeviceFd(b.get());
    if (!got.ok()) return absl::StrCat("receive: ", got.status().ToString());
    if (absl::Status s = kernel::CheckVfioDeviceFd(got->fd.get()); !s.ok())
      return absl::StrCat("check: ", s.ToString());
    kernel::Syscalls& real = kernel::Syscalls::Real();
    kernel::KernelDevice handed(got->name,
                                kernel::SysFd(real, got->fd.release()), real);
    absl::StatusOr<MigrationFlags> f = handed.GetMigrationFlags();
    absl::StatusOr<DeviceState> st = handed.GetState();
    if (!f.ok() || !st.ok()) return "the handed-over fd does not answer";
    return absl::StrCat("ok: a VFIO device fd, flags ", f->ToString(), ", ",
                        DeviceStateName(*st));
  }

 private:
  RecordingSyscalls recorder_;
  MigrationFlags flags_;
};

}  // namespace

std::unique_ptr<Backend> MakeEmuBackend(MigrationFlags flags) {
  return std::make_unique<EmuBackend>(flags);
}
std::unique_ptr<Backend> MakeFakeBackend(MigrationFlags flags) {
  return std::make_unique<FakeBackend>(flags);
}
absl::StatusOr<std::unique_ptr<Backend>> MakeKernelBackend(
    const std::vector<std::pair<std::string, std::string>>& mdevs) {
  auto b = std::make_unique<KernelBackend>();
  if (absl::Status s = b->Open(mdevs); !s.ok()) return s;
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace vmig::vfio::conformance
