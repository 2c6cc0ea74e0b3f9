#include "tests/vfio/kernel/mtty_uart.h"

#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace vmig::vfio::kernel {
namespace {

constexpr uint64_t kUartData = 0;  // UART_TX on write, UART_RX on read
constexpr uint64_t kUartLsr = 5;
constexpr uint8_t kLsrDataReady = 0x01;

// Where BAR0 sits in the device fd (the driver says; mtty puts region N at
// N << 40).
absl::StatusOr<uint64_t> Bar0Offset(int fd) {
  vfio_region_info info = {};
  info.argsz = sizeof(info);
  info.index = VFIO_PCI_BAR0_REGION_INDEX;
  if (::ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &info) < 0)
    return absl::ErrnoToStatus(errno, "VFIO_DEVICE_GET_REGION_INFO BAR0");
  if (info.size < 8)
    return absl::FailedPreconditionError("BAR0 is smaller than a UART");
  return info.offset;
}

}  // namespace

absl::Status MttyWriteFifo(int fd, absl::string_view text) {
  if (text.size() > kMttyFifoBytes)
    return absl::InvalidArgumentError("the FIFO holds 16 bytes");
  absl::StatusOr<uint64_t> bar = Bar0Offset(fd);
  if (!bar.ok()) return bar.status();
  for (char c : text) {
    if (::pwrite(fd, &c, 1, static_cast<off_t>(*bar + kUartData)) != 1)
      return absl::ErrnoToStatus(errno, "write UART_TX");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MttyDrainFifo(int fd) {
  absl::StatusOr<uint64_t> bar = Bar0Offset(fd);
  if (!bar.ok()) return bar.status();
  std::string out;
  for (size_t i = 0; i <= kMttyFifoBytes; ++i) {
    uint8_t lsr = 0;
    if (::pread(fd, &lsr, 1, static_cast<off_t>(*bar + kUartLsr)) != 1)
      return absl::ErrnoToStatus(errno, "read UART_LSR");
    if (!(lsr & kLsrDataReady)) return out;
    char c;
    if (::pread(fd, &c, 1, static_cast<off_t>(*bar + kUartData)) != 1)
      return absl::ErrnoToStatus(errno, "read UART_RX");
    out.push_back(c);
  }
  return absl::InternalError("the FIFO never emptied");
}

std::vector<std::pair<std::string, std::string>> ReadMdevList(
    const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(path);
  std::string uuid, group;
  while (in >> uuid >> group) out.emplace_back(uuid, group);
  return out;
}

}  // namespace vmig::vfio::kernel
