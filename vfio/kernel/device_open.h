// The three ways vmigd obtains a VFIO device fd for the kernel backend.
#ifndef VMIGD_VFIO_KERNEL_DEVICE_OPEN_H_
#define VMIGD_VFIO_KERNEL_DEVICE_OPEN_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "vfio/kernel/kernel_device.h"
#include "vfio/kernel/syscalls.h"

namespace vmig::vfio::kernel {

// 1. Handed over by the VMM that owns the device, on a Unix socket with
// SCM_RIGHTS: one message whose bytes are the device's name and whose
// ancillary data carries exactly one fd.
struct ReceivedFd {
  std::string name;
  UniqueFd fd;
};
absl::StatusOr<ReceivedFd> ReceiveDeviceFd(int unix_socket);
// Connects to the socket at `path` and receives one device fd, waiting at
// most `timeout` for it: a VMM (or anyone) that accepts and sends nothing
// must not hold the calling thread, nor the daemon's stop.
absl::StatusOr<ReceivedFd> ReceiveDeviceFdFrom(
    const std::string& path, absl::Duration timeout = absl::Seconds(10));
// The sending side (what a VMM does; used by tests and tools).
absl::Status SendDeviceFd(int unix_socket, absl::string_view name, int fd);

// The kernel's names for its VFIO nodes. vmigd opens what a request names
// read-write, as root, and opening some other node acts by itself (a
// watchdog starts counting), so anything else is refused before any open.
bool IsVfioCdevPath(absl::string_view path);   // /dev/vfio/devices/vfioN
bool IsVfioGroupPath(absl::string_view path);  // /dev/vfio/N, noiommu-N
// OK if `fd` is a VFIO device (a cdev, or the anonymous inode a group hands
// out): VFIO's ioctls on another file could mean something else to its
// driver. Otherwise InvalidArgument naming what the fd is.
absl::Status CheckVfioDeviceFd(int fd);

// 2. The VFIO cdev (/dev/vfio/devices/vfioN) bound to a new iommufd context
// with its own IOAS.
absl::StatusOr<std::unique_ptr<KernelDevice>> OpenCdevDevice(
    std::string name, const std::string& cdev_path, Syscalls& sys,
    const std::string& iommufd_path = "/dev/iommu");

// 3. A legacy VFIO group (/dev/vfio/N) in a new type1v2 container, and the
// device in it by name (a PCI address such as 0000:3b:00.1).
absl::StatusOr<std::unique_ptr<KernelDevice>> OpenGroupDevice(
    std::string name, const std::string& group_path, const std::string& device,
    Syscalls& sys, const std::string& container_path = "/dev/vfio/vfio");

}  // namespace vmig::vfio::kernel

#endif  // VMIGD_VFIO_KERNEL_DEVICE_OPEN_H_
