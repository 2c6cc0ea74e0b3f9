// The device backends the conformance catalogue runs against: the real
// kernel (mtty mdevs in the kernel-test VM), the fake kernel behind the
// Syscalls seam, and the emulated device. Each gives two devices with the
// same migration flags, fresh for every case.
#ifndef VMIGD_TESTS_VFIO_CONFORMANCE_BACKENDS_H_
#define VMIGD_TESTS_VFIO_CONFORMANCE_BACKENDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "vfio/device.h"
#include "vfio/kernel/syscalls.h"

namespace vmig::vfio::conformance {

// Passes every call on and remembers the errno of the last one that failed,
// so that a case can say which errno the kernel chose.
class RecordingSyscalls final : public kernel::Syscalls {
 public:
  explicit RecordingSyscalls(kernel::Syscalls& inner) : inner_(inner) {}
  int Open(const char* path, int flags) override;
  int Close(int fd) override { return inner_.Close(fd); }
  int Ioctl(int fd, unsigned long request, void* arg) override;
  ssize_t Read(int fd, void* buf, size_t n) override;
  ssize_t Write(int fd, const void* buf, size_t n) override;
  int Fcntl(int fd, int cmd, int arg) override {
    return inner_.Fcntl(fd, cmd, arg);
  }
  int last_errno() const { return last_errno_; }
  // What the last read() returned (-1 on error).
  ssize_t last_read() const { return last_read_; }
  void Clear() { last_errno_ = 0; }

 private:
  template <typename T>
  T Note(T rc) {
    if (rc < 0) last_errno_ = errno;
    return rc;
  }
  kernel::Syscalls& inner_;
  int last_errno_ = 0;
  ssize_t last_read_ = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // "kernel", "fake" or "emu".
  virtual std::string name() const = 0;
  virtual MigrationFlags flags() const = 0;
  // Makes both devices fresh: RUNNING, no data session, nothing pending.
  virtual absl::Status Prepare() = 0;
  virtual MigrationDevice& device(int index) = 0;
  // The errno behind the last failure, where the backend makes syscalls.
  virtual std::optional<int> last_errno() const { return std::nullopt; }
  virtual std::optional<ssize_t> last_read() const { return std::nullopt; }
  virtual void ClearErrno() {}
  // SET of a raw device_state value (one outside the enum): the errno, or
  // nullopt where the backend has no such path (the emulated device takes
  // only DeviceState values).
  virtual std::optional<int> RawSetState(int index, uint32_t value) {
    return std::nullopt;
  }
  // Kernel only: the device's fd handed over SCM_RIGHTS as a VMM would,
  // checked and driven through a second KernelDevice; "" where the backend
  // has no real fds.
  virtual std::string HandOverDeviceFd() { return ""; }
};

std::unique_ptr<Backend> MakeEmuBackend(MigrationFlags flags);
std::unique_ptr<Backend> MakeFakeBackend(MigrationFlags flags);
// Two mdevs ("UUID GROUP_PATH" each), opened through their groups.
absl::StatusOr<std::unique_ptr<Backend>> MakeKernelBackend(
    const std::vector<std::pair<std::string, std::string>>& mdevs);

}  // namespace vmig::vfio::conformance

#endif  // VMIGD_TESTS_VFIO_CONFORMANCE_BACKENDS_H_
