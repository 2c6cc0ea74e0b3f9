// The devices attached to this daemon, and which session holds each.
#ifndef VMIGD_DAEMON_DEVICE_REGISTRY_H_
#define VMIGD_DAEMON_DEVICE_REGISTRY_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "vfio/device.h"
#include "vmig/v1/device.pb.h"

namespace vmig::daemon {

class Journal;

// A kernel path that is not one of the kernel's VFIO nodes (vmigd opens it
// read-write as root, before it knows what it is): the field and why, for a
// request's error and for --check-config alike. Nothing when it is one.
struct PathRefusal {
  std::string field, why;
};
std::optional<PathRefusal> RefuseNonVfioPath(const v1::KernelDeviceSource& k);

// Whether a daemon takes emulated devices, and how much memory theirs may
// hold all together (allow_emulated_devices, limits.max_memory_bytes).
struct EmulatedDevicePolicy {
  bool allowed = true;
  uint64_t max_bytes = UINT64_MAX;
};

class DeviceRegistry {
 public:
  explicit DeviceRegistry(uint32_t max_devices,
                          EmulatedDevicePolicy emulated = {})
      : max_devices_(max_devices), emulated_(emulated) {}

  // Emulated devices keep their state under `dir` (state_dir/emu), so that
  // they outlive the daemon. Set before the first attach.
  void set_emu_state_dir(std::string dir) { emu_state_dir_ = std::move(dir); }
  // From here on, attaches and detaches are journalled (the configuration's
  // devices are attached before).
  void set_journal(Journal* journal) { journal_ = journal; }

  // Opens the device (parsing an emulated spec, opening a kernel path, or
  // receiving an fd) and registers it. Errors name the request field.
  absl::StatusOr<v1::Device> Attach(const v1::AttachDeviceRequest& req);
  absl::Status Detach(absl::string_view id);
  absl::StatusOr<v1::Device> Get(absl::string_view id);
  std::vector<v1::Device> List();

  // Gives `session` exclusive use of the devices: all of them or none.
  absl::StatusOr<std::vector<std::shared_ptr<vfio::MigrationDevice>>> Claim(
      const std::vector<std::string>& ids, const std::string& session);
  void Release(const std::vector<std::string>& ids, const std::string& session);
  // A device by id, without claiming it (NOT_FOUND if absent).
  absl::StatusOr<std::shared_ptr<vfio::MigrationDevice>> Find(
      absl::string_view id);

 private:
  struct Entry {
    v1::Backend backend;
    std::string source;
    std::shared_ptr<vfio::MigrationDevice> device;
    std::string session;
    uint64_t emulated_bytes = 0;  // reserved against emulated_.max_bytes
    // Its class, for the measurements it shares with devices alike.
    std::string device_class;
  };
  // Checks an emulated spec against the policy and reserves its memory
  // (0 for other sources).
  absl::StatusOr<uint64_t> ReserveEmulated(const v1::AttachDeviceRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static v1::Device Describe(const std::string& id, const Entry& e);

  const uint32_t max_devices_;
  const EmulatedDevicePolicy emulated_;
  std::string emu_state_dir_;
  Journal* journal_ = nullptr;
  absl::Mutex mu_;
  std::map<std::string, Entry> devices_ ABSL_GUARDED_BY(mu_);
  // Ids being opened (outside the lock), so that a duplicate is refused.
  std::map<std::string, bool> opening_ ABSL_GUARDED_BY(mu_);
  // Memory the emulated devices hold or are being opened with.
  uint64_t emulated_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DEVICE_REGISTRY_H_
