#include "vfio/kernel/device_open.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "vfio/uapi.h"

namespace vmig::vfio::kernel {
namespace {

constexpr size_t kMaxNameBytes = 255;

absl::Status SysError(absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(errno, absl::StrCat(what, " ", path));
}

bool AllDigits(absl::string_view s) {
  return !s.empty() && s.size() <= 10 &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool IsVfioCdevPath(absl::string_view path) {
  return absl::ConsumePrefix(&path, "/dev/vfio/devices/vfio") &&
         AllDigits(path);
}

bool IsVfioGroupPath(absl::string_view path) {
  if (!absl::ConsumePrefix(&path, "/dev/vfio/")) return false;
  absl::ConsumePrefix(&path, "noiommu-");
  return AllDigits(path);
}

absl::Status CheckVfioDeviceFd(int fd) {
  const std::string link = absl::StrCat("/proc/self/fd/", fd);
  char target[256] = {};
  const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
  if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("readlink ", link));
  const absl::string_view what(target, static_cast<size_t>(n));
  if (what == "anon_inode:[vfio-device]" || IsVfioCdevPath(what))
    return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "the fd handed over is not a VFIO device (it is ", what, ")"));
}

absl::StatusOr<ReceivedFd> ReceiveDeviceFd(int unix_socket) {
  char name[kMaxNameBytes + 1] = {};
  iovec iov = {.iov_base = name, .iov_len = kMaxNameBytes};
  // Room for more than one fd, so that a sender that passes several is
  // detected (and its fds closed) rather than silently truncated.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = ::recvmsg(unix_socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))  // SO_RCVTIMEO
    return absl::DeadlineExceededError("no device fd arrived in time");
  if (n < 0) return absl::ErrnoToStatus(errno, "recvmsg of a device fd");
  std::vector<UniqueFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    return absl::InvalidArgumentError(
        "device fd message: control data truncated");
  }
  if (fds.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("device fd message carried ", fds.size(),
                     " fds; expected exactly one"));
  }
  if (n == 0 || (msg.msg_flags & MSG_TRUNC)) {
    return absl::InvalidArgumentError(
        "device fd message: the device name is missing or longer than 255 "
        "bytes");
  }
  return ReceivedFd{std::string(name, static_cast<size_t>(n)),
                    std::move(fds[0])};
}

absl::StatusOr<ReceivedFd> ReceiveDeviceFdFrom(const std::string& path,
                                               absl::Duration timeout) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return SysError("socket for", path);
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) <
      0) {
    return SysError("connect to", path);
  }
  const timeval tv = absl::ToTimeval(timeout);
  if (::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
    return SysError("SO_RCVTIMEO on", path);
  absl::StatusOr<ReceivedFd> got = ReceiveDeviceFd(sock.get());
  if (!got.ok() && absl::IsDeadlineExceeded(got.status())) {
    return absl::DeadlineExceededError(
        absl::StrCat("no device fd arrived from ", path, " within ",
                     absl::FormatDuration(timeout)));
  }
  return got;
}

absl::Status SendDeviceFd(int unix_socket, absl::string_view name, int fd) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError("device name must be 1 to 255 bytes");
  }
  iovec iov = {.iov_base = const_cast<char*>(name.data()),
               .iov_len = name.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do {
    n = ::sendmsg(unix_socket, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return absl::ErrnoToStatus(errno, "sendmsg of a device fd");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<KernelDevice>> OpenCdevDevice(
    std::string name, const std::string& cdev_path, Syscalls& sys,
    const std::string& iommufd_path) {
  SysFd iommufd(sys, sys.Open(iommufd_path.c_str(), O_RDWR));
  if (!iommufd.valid()) return SysError("open", iommufd_path);
  SysFd dev(sys, sys.Open(cdev_path.c_str(), O_RDWR));
  if (!dev.valid()) return SysError("open", cdev_path);

  // Access to a cdev is granted by binding it to an iommufd context.
  uapi::BindIommufd bind = {};
  bind.argsz = sizeof(bind);
  bind.iommufd = iommufd.get();
  if (sys.Ioctl(dev.get(), uapi::kDeviceBindIommufd, &bind) < 0) {
    return SysError("VFIO_DEVICE_BIND_IOMMUFD on", cdev_path);
  }
  uapi::IommuIoasAlloc ioas = {};
  ioas.size = sizeof(ioas);
  if (sys.Ioctl(iommufd.get(), uapi::kIommuIoasAlloc, &ioas) < 0) {
    return SysError("IOMMU_IOAS_ALLOC on", iommufd_path);
  }
  uapi::AttachIommufdPt attach = {};
  attach.argsz = sizeof(attach);
  attach.pt_id = ioas.out_ioas_id;
  if (sys.Ioctl(dev.get(), uapi::kDeviceAttachIommufdPt, &attach) < 0) {
    return SysError("VFIO_DEVICE_ATTACH_IOMMUFD_PT on", cdev_path);
  }
  std::vector<SysFd> keep;
  keep.push_back(std::move(iommufd));
  return std::make_unique<KernelDevice>(std::move(name), std::move(dev), sys,
                                        std::move(keep));
}

absl::StatusOr<std::unique_ptr<KernelDevice>> OpenGroupDevice(
    std::string name, const std::string& group_path, const std::string& device,
    Syscalls& sys, const std::string& container_path) {
  SysFd container(sys, sys.Open(container_path.c_str(), O_RDWR));
  if (!container.valid()) return SysError("open", container_path);
  if (sys.Ioctl(container.get(), uapi::kGetApiVersion, nullptr) !=
      uapi::kApiVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(container_path, ": unknown VFIO API version"));
  }
  if (sys.Ioctl(container.get(), uapi::kCheckExtension,
                reinterpret_cast<void*>(uapi::kType1v2Iommu)) <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(container_path, ": no type1v2 IOMMU support"));
  }
  SysFd group(sys, sys.Open(group_path.c_str(), O_RDWR));
  if (!group.valid()) return SysError("open", group_path);
  uapi::GroupStatus status = {};
  status.argsz = sizeof(status);
  if (sys.Ioctl(group.get(), uapi::kGroupGetStatus, &status) < 0) {
    return SysError("VFIO_GROUP_GET_STATUS on", group_path);
  }
  if (!(status.flags & uapi::kGroupFlagsViable)) {
    return absl::FailedPreconditionError(absl::StrCat(
        group_path, ": group is not viable (bind every device in it to vfio)"));
  }
  int container_fd = container.get();
  if (sys.Ioctl(group.get(), uapi::kGroupSetContainer, &container_fd) < 0) {
    return SysError("VFIO_GROUP_SET_CONTAINER on", group_path);
  }
  if (sys.Ioctl(container.get(), uapi::kSetIommu,
                reinterpret_cast<void*>(uapi::kType1v2Iommu)) < 0) {
    return SysError("VFIO_SET_IOMMU on", container_path);
  }
  int fd = sys.Ioctl(group.get(), uapi::kGroupGetDeviceFd,
                     const_cast<char*>(device.c_str()));
  if (fd < 0)
    return SysError(absl::StrCat("VFIO_GROUP_GET_DEVICE_FD ", device, " in"),
                    group_path);
  std::vector<SysFd> keep;
  keep.push_back(std::move(group));  // closed before the container
  keep.push_back(std::move(container));
  return std::make_unique<KernelDevice>(std::move(name), SysFd(sys, fd), sys,
                                        std::move(keep));
}

}  // namespace vmig::vfio::kernel
