#include "tests/vfio/kernel/fake_vfio_kernel.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "vfio/fsm.h"
#include "vfio/uapi.h"

namespace vmig::vfio::kernel {

FakeVfioKernel::Device& FakeVfioKernel::AddDevice(const std::string& cdev_path,
                                                  const std::string& group_path,
                                                  const std::string& pci_name) {
  group_device_[group_path] = cdev_path;
  pci_device_[pci_name] = cdev_path;
  return devices_[cdev_path];
}

int FakeVfioKernel::NewFd(Fd fd) {
  int n = next_fd_++;
  fds_[n] = std::move(fd);
  return n;
}

int FakeVfioKernel::OpenDeviceDirect(const std::string& cdev_path) {
  return NewFd({.kind = Kind::kDevice, .device = cdev_path});
}

int FakeVfioKernel::Open(const char* path, int flags) {
  std::string p(path);
  if (p == "/dev/vfio/vfio")
    return NewFd({.kind = Kind::kContainer, .device = ""});
  if (p == "/dev/iommu") return NewFd({.kind = Kind::kIommufd, .device = ""});
  if (devices_.count(p)) {
    return NewFd({.kind = Kind::kDevice, .device = p, .bound = false});
  }
  if (group_device_.count(p)) {
    return NewFd({.kind = Kind::kGroup, .device = group_device_[p]});
  }
  return Fail(ENOENT);
}

int FakeVfioKernel::Close(int fd) {
  if (!fds_.erase(fd)) return Fail(EBADF);
  return 0;
}

int FakeVfioKernel::Fcntl(int fd, int cmd, int arg) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return Fail(EBADF);
  if (cmd == F_GETFL) return it->second.fl;
  if (cmd == F_SETFL) {
    it->second.fl = arg;
    return 0;
  }
  return Fail(EINVAL);
}

int FakeVfioKernel::Ioctl(int fd, unsigned long request, void* arg) {
  ioctls.push_back({fd, request});
  auto it = fds_.find(fd);
  if (it == fds_.end()) return Fail(EBADF);
  Fd& f = it->second;
  switch (f.kind) {
    case Kind::kContainer:
      if (request == uapi::kGetApiVersion) return uapi::kApiVersion;
      if (request == uapi::kCheckExtension) {
        return reinterpret_cast<uintptr_t>(arg) == uapi::kType1v2Iommu ? 1 : 0;
      }
      if (request == uapi::kSetIommu) {
        // Only after a group joined the container.
        bool has_group = std::any_of(fds_.begin(), fds_.end(), [&](auto& kv) {
          return kv.second.kind == Kind::kGroup && kv.second.container == fd;
        });
        if (!has_group) return Fail(EINVAL);
        return reinterpret_cast<uintptr_t>(arg) == uapi::kType1v2Iommu
                   ? 0
                   : Fail(EINVAL);
      }
      return Fail(ENOTTY);
    case Kind::kGroup:
      if (request == uapi::kGroupGetStatus) {
        auto* s = static_cast<uapi::GroupStatus*>(arg);
        if (s->argsz < sizeof(*s)) return Fail(EINVAL);
        s->flags = uapi::kGroupFlagsViable;
        return 0;
      }
      if (request == uapi::kGroupSetContainer) {
        int c = *static_cast<int*>(arg);
        if (!fds_.count(c) || fds_[c].kind != Kind::kContainer)
          return Fail(EBADF);
        f.container = c;
        return 0;
      }
      if (request == uapi::kGroupGetDeviceFd) {
        if (f.container < 0) return Fail(EINVAL);
        auto d = pci_device_.find(static_cast<const char*>(arg));
        if (d == pci_device_.end() || d->second != f.device)
          return Fail(ENODEV);
        return NewFd({.kind = Kind::kDevice, .device = f.device});
      }
      return Fail(ENOTTY);
    case Kind::kIommufd:
      if (request == uapi::kIommuIoasAlloc) {
        auto* a = static_cast<uapi::IommuIoasAlloc*>(arg);
        if (a->size < sizeof(*a) || a->flags != 0) return Fail(EINVAL);
        a->out_ioas_id = next_ioas_++;
        return 0;
      }
      return Fail(ENOTTY);
    case Kind::kDevice:
      return DeviceIoctl(f, request, arg);
    case Kind::kDataFd: {
      if (request != uapi::kMigGetPrecopyInfo) return Fail(ENOTTY);
      auto* info = static_cast<uapi::PrecopyInfo*>(arg);
      if (info->argsz < sizeof(*info)) return Fail(EINVAL);
      Device& d = devices_.at(f.device);
      if (!DataFdLive(f)) return Fail(ENODEV);
      if (d.state != DeviceState::kPreCopy &&
          d.state != DeviceState::kPreCopyP2P) {
        return Fail(EINVAL);
      }
      info->initial_bytes = d.initial_bytes;
      info->dirty_bytes = d.dirty_bytes;
      // The driver sets the flag; only v2 users may look at it.
      info->flags = d.raise_reinit ? uapi::kPrecopyInfoReinit : 0;
      return 0;
    }
  }
  return Fail(ENOTTY);
}

int FakeVfioKernel::DeviceIoctl(Fd& f, unsigned long request, void* arg) {
  Device& d = devices_.at(f.device);
  if (request == uapi::kDeviceBindIommufd) {
    auto* b = static_cast<uapi::BindIommufd*>(arg);
    if (b->argsz < sizeof(*b) || b->flags != 0) return Fail(EINVAL);
    auto io = fds_.find(b->iommufd);
    if (io == fds_.end() || io->second.kind != Kind::kIommufd)
      return Fail(EBADF);
    if (f.bound) return Fail(EINVAL);
    f.bound = true;
    b->out_devid = 7;
    return 0;
  }
  // A cdev is unusable until bound to an iommufd.
  if (!f.bound) return Fail(EINVAL);
  if (request == uapi::kDeviceAttachIommufdPt) {
    auto* a = static_cast<uapi::AttachIommufdPt*>(arg);
    if (a->argsz < sizeof(*a) || a->flags != 0 || a->pt_id == 0 ||
        a->pt_id >= next_ioas_) {
      return Fail(EINVAL);
    }
    f.attached = true;
    return 0;
  }
  if (request == uapi::kDeviceReset) {
    ++d.resets;
    d.state = DeviceState::kRunning;
    session_.erase(f.device);
    return 0;
  }
  if (request == uapi::kDeviceFeature) return Feature(d, f.device, arg);
  return Fail(ENOTTY);
}

int FakeVfioKernel::Feature(Device& d, const std::string& name, void* arg) {
  auto* h = static_cast<uapi::FeatureHeader*>(arg);
  const uint32_t op = h->flags & ~uapi::kFeatureMask;
  const uint32_t feature = h->flags & uapi::kFeatureMask;
  if (h->argsz < sizeof(*h)) return Fail(EINVAL);
  if (op & ~(uapi::kFeatureGet | uapi::kFeatureSet | uapi::kFeatureProbe)) {
    return Fail(EINVAL);
  }
  if ((op & uapi::kFeatureGet) && (op & uapi::kFeatureSet)) return Fail(EINVAL);
  auto payload = [&](size_t size) -> void* {
    return h->argsz < sizeof(*h) + size ? nullptr
                                        : static_cast<char*>(arg) + sizeof(*h);
  };
  if (!d.migration) return Fail(ENOTTY);
  switch (feature) {
    case uapi::kFeatureMigration: {
      if (op != uapi::kFeatureGet) return Fail(EINVAL);
      auto* p = static_cast<uapi::FeatureMigration*>(
          payload(sizeof(uapi::FeatureMigration)));
      if (!p) return Fail(EINVAL);
      p->flags = d.flags;
      return 0;
    }
    case uapi::kFeatureMigDeviceState: {
      auto* p = static_cast<uapi::FeatureMigState*>(
          payload(sizeof(uapi::FeatureMigState)));
      if (!p) return Fail(EINVAL);
      if (op == uapi::kFeatureGet) {
        p->device_state = static_cast<uint32_t>(d.state);
        p->data_fd = -1;
        return 0;
      }
      if (op != uapi::kFeatureSet) return Fail(EINVAL);
      auto target = DeviceStateFromValue(p->device_state);
      if (!target) return Fail(EINVAL);
      int rc = SetState(d, name, *target);
      if (rc < 0) return rc;
      p->data_fd = rc == 0 ? -1 : rc;
      return 0;
    }
    case uapi::kFeatureMigDataSize: {
      if (op != uapi::kFeatureGet) return Fail(EINVAL);
      auto* p = static_cast<uapi::FeatureMigDataSize*>(
          payload(sizeof(uapi::FeatureMigDataSize)));
      if (!p) return Fail(EINVAL);
      p->stop_copy_length = d.stop_copy_length;
      return 0;
    }
    case uapi::kFeatureMigPrecopyInfoV2:
      if (op != uapi::kFeatureSet) return Fail(EINVAL);
      d.precopy_v2 = true;
      return 0;
  }
  return Fail(ENOTTY);
}

// Returns -1 (errno), 0 (no new session) or a new data fd.
int FakeVfioKernel::SetState(Device& d, const std::string& name,
                             DeviceState target) {
  MigrationFlags flags(d.flags);
  int new_fd = 0;
  while (d.state != target) {
    auto next = NextState(flags, d.state, target);
    if (!next.ok()) return Fail(EINVAL);
    if (d.fail_arc && d.fail_arc->first == d.state &&
        d.fail_arc->second == *next) {
      d.fail_arc.reset();
      d.state = DeviceState::kError;
      session_.erase(name);
      return Fail(EIO);
    }
    const DeviceState from = d.state;
    d.state = *next;
    d.arcs.push_back(*next);
    if (from == DeviceState::kResuming && d.resume_bytes != 0 &&
        d.resumed.size() != d.resume_bytes) {
      d.state = from;  // the load fails; the device stays where it was
      d.arcs.pop_back();
      return Fail(EINVAL);
    }
    if (from == DeviceState::kStop && *next == DeviceState::kStopCopy) {
      // A stop-copy without pre-copy streams the whole state.
      d.stopcopy_data = d.precopy_data + d.stopcopy_data;
      d.precopy_data.clear();
    }
    if (from == DeviceState::kStop && *next == DeviceState::kResuming)
      d.resumed.clear();
    if (ArcOpensDataSession(from, *next)) {
      const uint64_t s = ++generation_[name];
      session_[name] = s;
      new_fd = NewFd({.kind = Kind::kDataFd,
                      .device = name,
                      .resuming = *next == DeviceState::kResuming,
                      .session = s});
    } else if (IsSavingState(from) != IsSavingState(*next) ||
               from == DeviceState::kResuming) {
      session_.erase(name);
    }
  }
  return new_fd;
}

bool FakeVfioKernel::DataFdLive(const Fd& f) const {
  auto it = session_.find(f.device);
  return it != session_.end() && it->second == f.session;
}

ssize_t FakeVfioKernel::Read(int fd, void* buf, size_t n) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return Fail(EBADF);
  Fd& f = it->second;
  if (f.kind != Kind::kDataFd || f.resuming) return Fail(EINVAL);
  Device& d = devices_.at(f.device);
  if (d.eintr_reads > 0) {
    --d.eintr_reads;
    return Fail(EINTR);
  }
  if (d.eagain_reads > 0 && (f.fl & O_NONBLOCK)) {
    --d.eagain_reads;
    return Fail(EAGAIN);
  }
  if (!DataFdLive(f)) return Fail(ENODEV);
  std::string& src =
      d.state == DeviceState::kStopCopy ? d.stopcopy_data : d.precopy_data;
  if (src.empty()) {
    if (d.state == DeviceState::kStopCopy) return 0;  // end of stream
    if (d.precopy_caught_up_reads_zero) return 0;
    return Fail(ENOMSG);  // pre-copy caught up
  }
  size_t take = std::min(n, src.size());
  std::memcpy(buf, src.data(), take);
  src.erase(0, take);
  if (d.state != DeviceState::kStopCopy)  // what is read is no longer owed
    d.initial_bytes -= std::min<uint64_t>(d.initial_bytes, take);
  return static_cast<ssize_t>(take);
}

ssize_t FakeVfioKernel::Write(int fd, const void* buf, size_t n) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return Fail(EBADF);
  Fd& f = it->second;
  if (f.kind != Kind::kDataFd || !f.resuming) return Fail(EINVAL);
  Device& d = devices_.at(f.device);
  if (d.eintr_writes > 0) {
    --d.eintr_writes;
    return Fail(EINTR);
  }
  if (!DataFdLive(f)) return Fail(ENODEV);
  size_t take = std::min(n, d.max_write);
  if (d.resume_bytes != 0 && d.resumed.size() + take > d.resume_bytes)
    return Fail(ENOMEM);
  const size_t before = d.resumed.size();
  d.resumed.append(static_cast<const char*>(buf), take);
  const size_t header = d.resume_header.size();
  if (header != 0 && before < header && d.resumed.size() >= header &&
      d.resumed.compare(0, header, d.resume_header) != 0) {
    return Fail(EFAULT);  // mtty counts the bytes, then refuses
  }
  return static_cast<ssize_t>(take);
}

}  // namespace vmig::vfio::kernel
