// The kernel backend: a VFIO device fd and the migration uAPI's real ioctls.
// This is the code that runs in production against a variant driver (mlx5,
// hisi_acc, virtio-pci, ...).
#ifndef VMIGD_VFIO_KERNEL_KERNEL_DEVICE_H_
#define VMIGD_VFIO_KERNEL_KERNEL_DEVICE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "vfio/device.h"
#include "vfio/kernel/syscalls.h"

namespace vmig::vfio::kernel {

class KernelDevice final : public MigrationDevice {
 public:
  // Owns `device_fd` and `keep_alive` (fds the device's access depends on:
  // an iommufd, a container and a group), all closed through `sys`.
  KernelDevice(std::string name, SysFd device_fd, Syscalls& sys,
               std::vector<SysFd> keep_alive = {});

  const std::string& name() const override { return name_; }
  absl::string_view backend() const override { return "kernel"; }
  absl::StatusOr<MigrationFlags> GetMigrationFlags() override;
  absl::StatusOr<DeviceState> GetState() override;
  absl::StatusOr<std::unique_ptr<DataSession>> SetState(
      DeviceState target) override;
  absl::StatusOr<uint64_t> GetStopCopyLength() override;
  absl::Status EnablePrecopyInfoV2() override;
  absl::Status Reset() override;

  int fd() const { return fd_.get(); }

  // What the device and its data sessions share: the last state the kernel
  // confirmed (a session tells pre-copy's "no more for now" from the end
  // of the stream by it) and the PRECOPY_INFOv2 opt-in.
  struct Shared {
    std::atomic<DeviceState> state{DeviceState::kRunning};
    std::atomic<bool> precopy_v2{false};
  };

 private:
  // VFIO_DEVICE_FEATURE: `request` is a FeatureHeader followed by the
  // feature's payload. `err`, if given, receives the raw errno (0 on success).
  absl::Status Feature(uint32_t flags, void* request, size_t request_size,
                       absl::string_view what, int* err = nullptr);
  absl::Status Errno(int err, absl::string_view what) const;
  // SetState's ioctl, without the transition log's record.
  absl::StatusOr<std::unique_ptr<DataSession>> RequestState(DeviceState target);

  const std::string name_;
  Syscalls& sys_;
  std::vector<SysFd> keep_alive_;  // closed after fd_ (declared first)
  SysFd fd_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace vmig::vfio::kernel

#endif  // VMIGD_VFIO_KERNEL_KERNEL_DEVICE_H_
