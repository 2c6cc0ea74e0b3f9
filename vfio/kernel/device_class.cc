#include "vfio/kernel/device_class.h"

#include <cctype>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace vmig::vfio::kernel {
namespace {

namespace fs = std::filesystem;

// A sysfs id file ("0x15b3\n") as "15b3"; "" if absent.
std::string ReadId(const fs::path& file) {
  std::ifstream in(file);
  std::string v;
  if (!(in >> v)) return "";
  absl::string_view s = v;
  absl::ConsumePrefix(&s, "0x");
  return std::string(s);
}

// Sysfs names are the kernel's ([A-Za-z0-9:._-]); anything else is not
// one, and is not put in a class name.
bool Plain(const std::string& name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..")
    return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '.' ||
          c == '_' || c == '-'))
      return false;
  }
  return true;
}

}  // namespace

std::string DeviceClassAt(const std::string& device_dir) {
  std::error_code ec;
  const fs::path dir(device_dir);
  const fs::path type = fs::canonical(dir / "mdev_type", ec);
  if (!ec) {
    const std::string name = type.filename().string();
    return Plain(name) ? absl::StrCat("kernel:mdev:", name) : "";
  }
  const std::string vendor = ReadId(dir / "vendor");
  const std::string device = ReadId(dir / "device");
  if (Plain(vendor) && Plain(device))
    return absl::StrCat("kernel:pci:", vendor, ":", device);
  return "";
}

std::string DeviceClassOfCdev(const std::string& cdev,
                              const std::string& sysfs) {
  const std::string node = fs::path(cdev).filename().string();
  if (!Plain(node)) return "";
  return DeviceClassAt(
      absl::StrCat(sysfs, "/class/vfio-dev/", node, "/device"));
}

std::string DeviceClassOfName(const std::string& device_name,
                              const std::string& sysfs) {
  if (!Plain(device_name)) return "";
  std::error_code ec;
  const std::string mdev =
      absl::StrCat(sysfs, "/bus/mdev/devices/", device_name);
  if (fs::exists(mdev, ec)) return DeviceClassAt(mdev);
  return DeviceClassAt(absl::StrCat(sysfs, "/bus/pci/devices/", device_name));
}

}  // namespace vmig::vfio::kernel
