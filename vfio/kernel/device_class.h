// A kernel VFIO device's class, from sysfs: what makes two devices alike
// for a migration's figures (read and write rates, arcs), so that what one
// host measured serves another host's device of the same model.
#ifndef VMIGD_VFIO_KERNEL_DEVICE_CLASS_H_
#define VMIGD_VFIO_KERNEL_DEVICE_CLASS_H_

#include <string>

namespace vmig::vfio::kernel {

// The class of the device whose sysfs directory is `device_dir`:
// "kernel:mdev:TYPE" for an mdev (its mdev_type's name, e.g. "mtty-2"),
// "kernel:pci:VENDOR:DEVICE" for a PCI function (e.g. "15b3:101e"), or ""
// when sysfs says neither.
std::string DeviceClassAt(const std::string& device_dir);

// The class of a device opened from a VFIO cdev ("/dev/vfio/devices/vfio3")
// or by its name in a group (a PCI address or an mdev UUID), looked up
// under `sysfs` ("/sys"); "" if unknown.
std::string DeviceClassOfCdev(const std::string& cdev,
                              const std::string& sysfs = "/sys");
std::string DeviceClassOfName(const std::string& device_name,
                              const std::string& sysfs = "/sys");

}  // namespace vmig::vfio::kernel

#endif  // VMIGD_VFIO_KERNEL_DEVICE_CLASS_H_
