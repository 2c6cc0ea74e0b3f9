// The emulated migratable device: the embedded default backend and the
// workhorse of every test and benchmark. It follows the kernel's semantics:
// the same FSM walked arc by arc by the same planner, a data session with
// ENOMSG / end-of-stream / PRECOPY_INFO / MIG_DATA_SIZE as the uAPI defines
// them, ERROR after a failed arc, and reset as the only way out.
#ifndef VMIGD_VFIO_EMU_EMU_DEVICE_H_
#define VMIGD_VFIO_EMU_EMU_DEVICE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "vfio/device.h"
#include "vfio/emu/spec.h"

namespace vmig::vfio::emu {

class EmuCore;

class EmuDevice final : public MigrationDevice {
 public:
  static absl::StatusOr<std::unique_ptr<EmuDevice>> Create(
      absl::string_view spec);
  static std::unique_ptr<EmuDevice> Create(const EmuSpec& spec);
  ~EmuDevice() override;

  const std::string& name() const override;
  absl::string_view backend() const override { return "emu"; }
  absl::StatusOr<MigrationFlags> GetMigrationFlags() override;
  absl::StatusOr<DeviceState> GetState() override;
  absl::StatusOr<std::unique_ptr<DataSession>> SetState(
      DeviceState target) override;
  absl::StatusOr<uint64_t> GetStopCopyLength() override;
  absl::Status EnablePrecopyInfoV2() override;
  absl::Status Reset() override;

  const EmuSpec& spec() const;
  // The digest of the device's current state, comparable across devices:
  // after a migration, destination == source.
  uint64_t StateDigest();
  // Called before each arc the device takes, without its locks held; an
  // error fails the arc. Lets tests pause or fail a device mid-path.
  using ArcHook = std::function<absl::Status(DeviceState from, DeviceState to)>;
  void SetArcHook(ArcHook hook);

 private:
  explicit EmuDevice(std::shared_ptr<EmuCore> core);
  // Shared with the device's data sessions, which may outlive the device.
  std::shared_ptr<EmuCore> core_;
};

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_EMU_DEVICE_H_
