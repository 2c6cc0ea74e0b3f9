#include "daemon/device_registry.h"

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/bounded.h"
#include "common/fmt_absl.h"
#include "daemon/config.h"
#include "daemon/journal.h"
#include "daemon/measures/measure_history.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"
#include "vfio/emu/emu_device.h"
#include "vfio/kernel/device_class.h"
#include "vfio/kernel/device_open.h"

namespace vmig::daemon {
namespace {

absl::Status DeviceNotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("device devices/", id, " not found"));
}

struct Opened {
  std::shared_ptr<vfio::MigrationDevice> device;
  v1::Backend backend;
  std::string source;
  // What makes it alike to other devices (empty: the source).
  std::string device_class;
};

absl::StatusOr<Opened> Open(const v1::AttachDeviceRequest& req,
                            const std::string& emu_state_dir) {
  using vfio::kernel::Syscalls;
  switch (req.source_case()) {
    case v1::AttachDeviceRequest::kEmulatedSpec: {
      absl::StatusOr<vfio::emu::EmuSpec> spec =
          vfio::emu::ParseEmuSpec(req.emulated_spec());
      if (!spec.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("emulated_spec: ", spec.status().message()));
      }
      spec->name = req.device_id();
      // The daemon writes the state file after every arc and deletes it on
      // detach, as root: its path is the daemon's choice, never a request's
      // (a restored device's spec names the same path).
      const std::string own =
          emu_state_dir.empty()
              ? ""
              : absl::StrCat(emu_state_dir, "/", req.device_id(), ".state");
      if (!spec->state_file.empty() && spec->state_file != own) {
        return absl::InvalidArgumentError(
            absl::StrCat("emulated_spec: state_file is chosen by the daemon (",
                         own.empty() ? "none without a state_dir" : own,
                         "), not by a request"));
      }
      if (!own.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(emu_state_dir, ec);
        spec->state_file = own;
      }
      return Opened{vfio::emu::EmuDevice::Create(*spec), v1::BACKEND_EMULATED,
                    spec->ToString(), ""};
    }
    case v1::AttachDeviceRequest::kKernel: {
      const auto& k = req.kernel();
      absl::StatusOr<std::unique_ptr<vfio::kernel::KernelDevice>> dev;
      std::string source, device_class;
      if (std::optional<PathRefusal> r = RefuseNonVfioPath(k)) {
        return absl::InvalidArgumentError(absl::StrCat(r->field, ": ", r->why));
      }
      if (k.path_case() == v1::KernelDeviceSource::kCdev) {
        source = k.cdev();
        device_class = vfio::kernel::DeviceClassOfCdev(k.cdev());
        dev = vfio::kernel::OpenCdevDevice(req.device_id(), k.cdev(),
                                           Syscalls::Real());
      } else if (k.path_case() == v1::KernelDeviceSource::kGroup) {
        if (k.device_name().empty()) {
          return absl::InvalidArgumentError(
              "kernel.device_name: required with kernel.group");
        }
        source = absl::StrCat(k.group(), ":", k.device_name());
        device_class = vfio::kernel::DeviceClassOfName(k.device_name());
        dev = vfio::kernel::OpenGroupDevice(req.device_id(), k.group(),
                                            k.device_name(), Syscalls::Real());
      } else {
        return absl::InvalidArgumentError(
            "kernel: one of cdev or group is required");
      }
      if (!dev.ok())
        return absl::FailedPreconditionError(absl::StrCat(
            "kernel: cannot open '", source, "': ", dev.status().message()));
      return Opened{std::move(*dev), v1::BACKEND_KERNEL, source, device_class};
    }
    case v1::AttachDeviceRequest::kFdSocket: {
      absl::StatusOr<vfio::kernel::ReceivedFd> got =
          vfio::kernel::ReceiveDeviceFdFrom(req.fd_socket());
      if (!got.ok()) {
        return absl::UnavailableError(
            absl::StrCat("fd_socket: ", got.status().message()));
      }
      if (absl::Status v = vfio::kernel::CheckVfioDeviceFd(got->fd.get());
          !v.ok()) {
        return absl::Status(v.code(), absl::StrCat("fd_socket: ", v.message()));
      }
      Syscalls& sys = Syscalls::Real();
      return Opened{std::make_shared<vfio::kernel::KernelDevice>(
                        req.device_id(),
                        vfio::kernel::SysFd(sys, got->fd.release()), sys),
                    v1::BACKEND_KERNEL,
                    absl::StrCat("fd from ", req.fd_socket()), ""};
    }
    case v1::AttachDeviceRequest::SOURCE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "source: one of emulated_spec, kernel or fd_socket is required");
}

}  // namespace

std::optional<PathRefusal> RefuseNonVfioPath(const v1::KernelDeviceSource& k) {
  if (k.path_case() == v1::KernelDeviceSource::kCdev &&
      !vfio::kernel::IsVfioCdevPath(k.cdev())) {
    return PathRefusal{"kernel.cdev",
                       absl::StrCat(Bounded(k.cdev()),
                                    " is not a VFIO cdev "
                                    "(/dev/vfio/devices/vfioN)")};
  }
  if (k.path_case() == v1::KernelDeviceSource::kGroup &&
      !vfio::kernel::IsVfioGroupPath(k.group())) {
    return PathRefusal{"kernel.group",
                       absl::StrCat(Bounded(k.group()),
                                    " is not a VFIO group (/dev/vfio/N or "
                                    "/dev/vfio/noiommu-N)")};
  }
  return std::nullopt;
}

absl::StatusOr<v1::Device> DeviceRegistry::Attach(
    const v1::AttachDeviceRequest& req) {
  if (req.device_id().empty()) {
    return absl::InvalidArgumentError("device_id: required");
  }
  if (!IsValidId(req.device_id())) {
    return absl::InvalidArgumentError(
        absl::StrCat("device_id: ", Bounded(req.device_id()),
                     " must be 1-64 characters of [A-Za-z0-9._-]"));
  }
  uint64_t emulated = 0;
  {
    absl::MutexLock lock(&mu_);
    if (devices_.count(req.device_id()) || opening_.count(req.device_id())) {
      return absl::AlreadyExistsError(
          absl::StrCat("device devices/", req.device_id(), " already exists"));
    }
    if (devices_.size() + opening_.size() >= max_devices_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the daemon holds its limit of ", max_devices_, " devices"));
    }
    absl::StatusOr<uint64_t> reserved = ReserveEmulated(req);
    if (!reserved.ok()) return reserved.status();
    emulated = *reserved;
    opening_[req.device_id()] = true;
  }
  absl::StatusOr<Opened> opened = Open(req, emu_state_dir_);
  if (opened.ok()) {
    // A device that cannot migrate is of no use here.
    absl::StatusOr<vfio::MigrationFlags> flags =
        opened->device->GetMigrationFlags();
    if (!flags.ok())
      opened = absl::FailedPreconditionError(flags.status().message());
  }
  Entry e;
  {
    absl::MutexLock lock(&mu_);
    opening_.erase(req.device_id());
    if (!opened.ok()) {
      emulated_bytes_ -= emulated;
      return opened.status();
    }
    e = Entry{opened->backend,
              opened->source,
              opened->device,
              "",
              emulated,
              opened->device_class.empty() ? HistoryKey(opened->source)
                                           : opened->device_class};
    devices_[req.device_id()] = e;
  }
  spdlog::info("attached device devices/{} ({})", req.device_id(), e.source);
  if (journal_) {
    if (absl::Status j = journal_->DeviceAttached(req); !j.ok())
      spdlog::error("journal: {}", j.message());
  }
  return Describe(req.device_id(), e);  // outside the lock: a digest is slow
}

absl::Status DeviceRegistry::Detach(absl::string_view id) {
  std::shared_ptr<vfio::MigrationDevice> dev;
  {
    absl::MutexLock lock(&mu_);
    auto it = devices_.find(std::string(id));
    if (it == devices_.end()) {
      return DeviceNotFound(id);
    }
    if (!it->second.session.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device devices/", id, " is used by ", it->second.session));
    }
    dev = std::move(it->second.device);
    emulated_bytes_ -= it->second.emulated_bytes;
    devices_.erase(it);
  }
  spdlog::info("detached device devices/{}", id);
  if (journal_) {
    if (absl::Status j = journal_->DeviceDetached(std::string(id)); !j.ok())
      spdlog::error("journal: {}", j.message());
  }
  // Detached for good: its saved state goes too.
  if (auto* emu = dynamic_cast<vfio::emu::EmuDevice*>(dev.get())) {
    const std::string path = emu->spec().state_file;
    dev.reset();
    if (!path.empty()) std::remove(path.c_str());
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DeviceRegistry::ReserveEmulated(
    const v1::AttachDeviceRequest& req) {
  if (req.source_case() != v1::AttachDeviceRequest::kEmulatedSpec) return 0;
  if (!emulated_.allowed) {
    return absl::FailedPreconditionError(
        "emulated_spec: this daemon takes no emulated devices "
        "(allow_emulated_devices is off)");
  }
  absl::StatusOr<vfio::emu::EmuSpec> spec =
      vfio::emu::ParseEmuSpec(req.emulated_spec());
  if (!spec.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("emulated_spec: ", spec.status().message()));
  }
  const uint64_t bytes = spec->num_blocks() * vfio::emu::kEmuBytesPerBlock;
  if (bytes > emulated_.max_bytes ||
      emulated_bytes_ > emulated_.max_bytes - bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("emulated_spec: its ", spec->num_blocks(), " blocks need ",
                     bytes >> 20, " MiB, and the emulated devices hold ",
                     emulated_bytes_ >> 20, " MiB of limits.max_memory_bytes (",
                     emulated_.max_bytes >> 20, " MiB)"));
  }
  emulated_bytes_ += bytes;
  return bytes;
}

v1::Device DeviceRegistry::Describe(const std::string& id, const Entry& e) {
  v1::Device d;
  d.set_name(absl::StrCat("devices/", id));
  d.set_backend(e.backend);
  d.set_source(e.source);
  d.set_device_class(e.device_class);
  if (auto f = e.device->GetMigrationFlags(); f.ok())
    *d.mutable_flags() = ToProto(*f);
  if (auto s = e.device->GetState(); s.ok()) d.set_state(ToProto(*s));
  if (auto l = e.device->GetStopCopyLength(); l.ok())
    d.set_stop_copy_length(*l);
  if (auto* emu = dynamic_cast<vfio::emu::EmuDevice*>(e.device.get())) {
    d.set_emulated_digest(emu->StateDigest());
  }
  d.set_session(e.session);
  return d;
}

// Describe reads the device (a large emulated device's digest takes
// seconds): it runs on a copy of the entry, never under the registry's lock.
absl::StatusOr<v1::Device> DeviceRegistry::Get(absl::string_view id) {
  Entry e;
  {
    absl::MutexLock lock(&mu_);
    auto it = devices_.find(std::string(id));
    if (it == devices_.end()) {
      return DeviceNotFound(id);
    }
    e = it->second;
  }
  return Describe(std::string(id), e);
}

std::vector<v1::Device> DeviceRegistry::List() {
  std::vector<std::pair<std::string, Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    entries.assign(devices_.begin(), devices_.end());
  }
  std::vector<v1::Device> out;
  for (const auto& [id, e] : entries) out.push_back(Describe(id, e));
  return out;
}

absl::StatusOr<std::shared_ptr<vfio::MigrationDevice>> DeviceRegistry::Find(
    absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = devices_.find(std::string(id));
  if (it == devices_.end()) {
    return DeviceNotFound(id);
  }
  return it->second.device;
}

absl::StatusOr<std::vector<std::shared_ptr<vfio::MigrationDevice>>>
DeviceRegistry::Claim(const std::vector<std::string>& ids,
                      const std::string& session) {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<vfio::MigrationDevice>> out;
  for (const std::string& id : ids) {
    auto it = devices_.find(id);
    if (it == devices_.end()) {
      return DeviceNotFound(id);
    }
    if (!it->second.session.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device devices/", id, " is used by ", it->second.session));
    }
    out.push_back(it->second.device);
  }
  for (const std::string& id : ids) devices_[id].session = session;
  return out;
}

void DeviceRegistry::Release(const std::vector<std::string>& ids,
                             const std::string& session) {
  absl::MutexLock lock(&mu_);
  for (const std::string& id : ids) {
    auto it = devices_.find(id);
    if (it != devices_.end() && it->second.session == session)
      it->second.session.clear();
  }
}

}  // namespace vmig::daemon
