// A kernel device's class from sysfs, against a sysfs tree the test builds
// the way the kernel lays it out (an mdev's mdev_type link, a PCI
// function's vendor and device ids, a cdev's vfio-dev entry).
#include "vfio/kernel/device_class.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace vmig::vfio::kernel {
namespace {

namespace fs = std::filesystem;

class DeviceClassTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        fs::temp_directory_path() / ("vmig-sysfs-" + std::to_string(getpid()));
    fs::remove_all(root_);
    // An mtty mdev: /sys/bus/mdev/devices/UUID -> the device, whose
    // mdev_type links to its parent's supported type "mtty-2".
    const fs::path parent = root_ / "devices/virtual/mtty/mtty";
    fs::create_directories(parent / "mdev_supported_types/mtty-2");
    const fs::path mdev = parent / kUuid;
    fs::create_directories(mdev);
    fs::create_directory_symlink(parent / "mdev_supported_types/mtty-2",
                                 mdev / "mdev_type");
    fs::create_directories(root_ / "bus/mdev/devices");
    fs::create_directory_symlink(mdev, root_ / "bus/mdev/devices" / kUuid);
    // A ConnectX VF at 0000:3b:00.1, and its cdev vfio3.
    const fs::path pci = root_ / "devices/pci0000:3a/0000:3b:00.1";
    fs::create_directories(pci);
    std::ofstream(pci / "vendor") << "0x15b3\n";
    std::ofstream(pci / "device") << "0x101e\n";
    fs::create_directories(root_ / "bus/pci/devices");
    fs::create_directory_symlink(pci, root_ / "bus/pci/devices/0000:3b:00.1");
    fs::create_directories(root_ / "class/vfio-dev/vfio3");
    fs::create_directory_symlink(pci, root_ / "class/vfio-dev/vfio3/device");
  }
  void TearDown() override { fs::remove_all(root_); }
  static constexpr const char* kUuid = "83b8f4f2-509f-382f-3c1e-e6bfe0fa0000";
  fs::path root_;
};

TEST_F(DeviceClassTest, AnMdevIsItsTypeAndAPciFunctionItsVendorAndDevice) {
  EXPECT_EQ(DeviceClassOfName(kUuid, root_), "kernel:mdev:mtty-2");
  EXPECT_EQ(DeviceClassOfName("0000:3b:00.1", root_), "kernel:pci:15b3:101e");
  EXPECT_EQ(DeviceClassOfCdev("/dev/vfio/devices/vfio3", root_),
            "kernel:pci:15b3:101e");
}

TEST_F(DeviceClassTest, WhatSysfsDoesNotDescribeHasNoClass) {
  EXPECT_EQ(DeviceClassOfName("0000:99:00.0", root_), "");
  EXPECT_EQ(DeviceClassOfCdev("/dev/vfio/devices/vfio9", root_), "");
  // A name that is not a sysfs name never reaches a path.
  EXPECT_EQ(DeviceClassOfName("../../etc", root_), "");
  EXPECT_EQ(DeviceClassOfCdev("/dev/vfio/devices/..", root_), "");
}

}  // namespace
}  // namespace vmig::vfio::kernel
