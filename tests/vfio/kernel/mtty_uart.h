// The mtty sample driver's UART as a VMM sees it, through the VFIO device
// fd: a byte written to the transmit register enters the port's 16-byte
// loopback FIFO, and reading the receive register pops it. The FIFO
// travels in the migration data, so what one device's FIFO held must come
// out of the other's after a migration.
#ifndef VMIGD_TESTS_VFIO_KERNEL_MTTY_UART_H_
#define VMIGD_TESTS_VFIO_KERNEL_MTTY_UART_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmig::vfio::kernel {

inline constexpr size_t kMttyFifoBytes = 16;

// Writes `text` (at most 16 bytes) into port 0's FIFO.
absl::Status MttyWriteFifo(int device_fd, absl::string_view text);
// Pops everything port 0's FIFO holds.
absl::StatusOr<std::string> MttyDrainFifo(int device_fd);

// "UUID /dev/vfio/N" lines, as the kernel-test VM writes them.
std::vector<std::pair<std::string, std::string>> ReadMdevList(
    const std::string& path);

}  // namespace vmig::vfio::kernel

#endif  // VMIGD_TESTS_VFIO_KERNEL_MTTY_UART_H_
