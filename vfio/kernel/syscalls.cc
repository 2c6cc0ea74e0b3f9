#include "vfio/kernel/syscalls.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace vmig::vfio::kernel {
namespace {

class RealSyscalls final : public Syscalls {
 public:
  int Open(const char* path, int flags) override {
    return ::open(path, flags | O_CLOEXEC);
  }
  int Close(int fd) override { return ::close(fd); }
  int Ioctl(int fd, unsigned long request, void* arg) override {
    return ::ioctl(fd, request, arg);
  }
  ssize_t Read(int fd, void* buf, size_t n) override {
    return ::read(fd, buf, n);
  }
  ssize_t Write(int fd, const void* buf, size_t n) override {
    return ::write(fd, buf, n);
  }
  int Fcntl(int fd, int cmd, int arg) override { return ::fcntl(fd, cmd, arg); }
};

}  // namespace

Syscalls& Syscalls::Real() {
  static RealSyscalls* real = new RealSyscalls();
  return *real;
}

}  // namespace vmig::vfio::kernel
