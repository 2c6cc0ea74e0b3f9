// The thin seam between the kernel backend and the kernel: every syscall the
// backend makes on a device goes through here, so that tests can put a fake
// VFIO kernel behind it. Same contract as libc: -1 and errno on failure.
#ifndef VMIGD_VFIO_KERNEL_SYSCALLS_H_
#define VMIGD_VFIO_KERNEL_SYSCALLS_H_

#include <sys/types.h>

namespace vmig::vfio::kernel {

class Syscalls {
 public:
  virtual ~Syscalls() = default;
  virtual int Open(const char* path, int flags) = 0;
  virtual int Close(int fd) = 0;
  virtual int Ioctl(int fd, unsigned long request, void* arg) = 0;
  virtual ssize_t Read(int fd, void* buf, size_t n) = 0;
  virtual ssize_t Write(int fd, const void* buf, size_t n) = 0;
  virtual int Fcntl(int fd, int cmd, int arg) = 0;

  // The real kernel.
  static Syscalls& Real();
};

// An fd opened through a Syscalls, closed through it.
class SysFd {
 public:
  SysFd() = default;
  SysFd(Syscalls& sys, int fd) : sys_(&sys), fd_(fd) {}
  SysFd(SysFd&& o) noexcept : sys_(o.sys_), fd_(o.release()) {}
  SysFd& operator=(SysFd&& o) noexcept {
    if (this != &o) {
      reset();
      sys_ = o.sys_;
      fd_ = o.release();
    }
    return *this;
  }
  SysFd(const SysFd&) = delete;
  SysFd& operator=(const SysFd&) = delete;
  ~SysFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ >= 0) sys_->Close(fd_);
    fd_ = -1;
  }

 private:
  Syscalls* sys_ = nullptr;
  int fd_ = -1;
};

}  // namespace vmig::vfio::kernel

#endif  // VMIGD_VFIO_KERNEL_SYSCALLS_H_
