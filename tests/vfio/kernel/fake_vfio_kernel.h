// A fake VFIO kernel behind the Syscalls seam. It checks what the kernel
// checks (argsz, flags, layouts, which feature takes GET or SET, states the
// device supports), walks the FSM like the kernel core, and injects the
// errno paths a real driver can take (ENOTTY, EINVAL, ENOMSG, EAGAIN, EINTR,
// short writes, a failing arc).
#ifndef VMIGD_TESTS_VFIO_KERNEL_FAKE_VFIO_KERNEL_H_
#define VMIGD_TESTS_VFIO_KERNEL_FAKE_VFIO_KERNEL_H_

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vfio/kernel/syscalls.h"
#include "vfio/state.h"

namespace vmig::vfio::kernel {

class FakeVfioKernel final : public Syscalls {
 public:
  struct Device {
    bool migration = true;  // false: FEATURE_MIGRATION is ENOTTY
    uint64_t flags = 7;
    DeviceState state = DeviceState::kRunning;
    uint64_t stop_copy_length = 0;
    bool precopy_v2 = false;
    // What the saving data_fd serves: pre-copy bytes (ENOMSG when empty)
    // and stop-copy bytes (then 0).
    std::string precopy_data;
    std::string stopcopy_data;
    uint64_t initial_bytes = 0, dirty_bytes = 0;
    bool raise_reinit = false;
    // A caught-up pre-copy read returns 0 instead of ENOMSG, as the mtty
    // sample driver does (scripts/kernel-test.sh found it).
    bool precopy_caught_up_reads_zero = false;
    // A driver's checks of an incoming stream, as mtty makes them (0 and
    // empty: none): a write past `resume_bytes` fails ENOMEM; the write
    // that completes the header fails EFAULT unless it equals
    // `resume_header`; leaving RESUMING with other than `resume_bytes`
    // written fails EINVAL, the device staying in RESUMING.
    size_t resume_bytes = 0;
    std::string resume_header;
    // Injected faults.
    std::optional<std::pair<DeviceState, DeviceState>> fail_arc;
    int eintr_reads = 0;         // the next N reads fail with EINTR
    int eintr_writes = 0;        // the next N writes fail with EINTR
    int eagain_reads = 0;        // the next N reads fail with EAGAIN
    size_t max_write = 1 << 30;  // short writes
    // Observed.
    std::vector<DeviceState> arcs;  // every state entered, in order
    std::string resumed;            // bytes written to a RESUMING data_fd
    int resets = 0;
  };

  // Registers a device reachable at the cdev path and in the group.
  Device& AddDevice(const std::string& cdev_path, const std::string& group_path,
                    const std::string& pci_name);
  // A device fd as if handed over by a VMM.
  int OpenDeviceDirect(const std::string& cdev_path);
  Device& device(const std::string& cdev_path) {
    return devices_.at(cdev_path);
  }

  int open_fds() const { return static_cast<int>(fds_.size()); }
  int data_fd_flags(int fd) const { return fds_.at(fd).fl; }
  // Every (fd, request) seen, to check what the backend sent.
  std::vector<std::pair<int, unsigned long>> ioctls;

  int Open(const char* path, int flags) override;
  int Close(int fd) override;
  int Ioctl(int fd, unsigned long request, void* arg) override;
  ssize_t Read(int fd, void* buf, size_t n) override;
  ssize_t Write(int fd, const void* buf, size_t n) override;
  int Fcntl(int fd, int cmd, int arg) override;

 private:
  enum class Kind { kContainer, kGroup, kIommufd, kDevice, kDataFd };
  struct Fd {
    Kind kind;
    std::string device;  // kDevice / kDataFd / kGroup: which device
    bool bound = true;   // kDevice via cdev: false until BIND_IOMMUFD
    bool attached = false;
    bool resuming = false;  // kDataFd
    uint64_t session = 0;   // kDataFd: which session of the device
    int fl = 0;             // fcntl flags
    int container = -1;     // kGroup
  };

  int NewFd(Fd fd);
  int Fail(int err) {
    errno = err;
    return -1;
  }
  int DeviceIoctl(Fd& f, unsigned long request, void* arg);
  int Feature(Device& d, const std::string& name, void* arg);
  int SetState(Device& d, const std::string& name, DeviceState target);
  bool DataFdLive(const Fd& f) const;

  std::map<std::string, Device> devices_;            // by cdev path
  std::map<std::string, std::string> group_device_;  // group path -> cdev
  std::map<std::string, std::string> pci_device_;    // pci name -> cdev
  std::map<std::string, uint64_t> session_;          // live session per device
  std::map<std::string, uint64_t> generation_;  // sessions opened per device
  std::map<int, Fd> fds_;
  int next_fd_ = 1000;
  uint32_t next_ioas_ = 1;
};

}  // namespace vmig::vfio::kernel

#endif  // VMIGD_TESTS_VFIO_KERNEL_FAKE_VFIO_KERNEL_H_
