#include "vfio/emu/emu_device.h"

#include "vfio/emu/emu_core.h"

namespace vmig::vfio::emu {

absl::StatusOr<std::unique_ptr<EmuDevice>> EmuDevice::Create(
    absl::string_view spec) {
  absl::StatusOr<EmuSpec> parsed = ParseEmuSpec(spec);
  if (!parsed.ok()) return parsed.status();
  return Create(*parsed);
}

std::unique_ptr<EmuDevice> EmuDevice::Create(const EmuSpec& spec) {
  return std::unique_ptr<EmuDevice>(
      new EmuDevice(std::make_shared<EmuCore>(spec)));
}

EmuDevice::EmuDevice(std::shared_ptr<EmuCore> core) : core_(std::move(core)) {}
EmuDevice::~EmuDevice() = default;

const std::string& EmuDevice::name() const { return core_->spec().name; }
const EmuSpec& EmuDevice::spec() const { return core_->spec(); }

absl::StatusOr<MigrationFlags> EmuDevice::GetMigrationFlags() {
  return core_->spec().flags;
}
absl::StatusOr<DeviceState> EmuDevice::GetState() { return core_->GetState(); }
absl::StatusOr<std::unique_ptr<DataSession>> EmuDevice::SetState(
    DeviceState target) {
  return core_->SetState(target);
}
absl::StatusOr<uint64_t> EmuDevice::GetStopCopyLength() {
  return core_->GetStopCopyLength();
}
absl::Status EmuDevice::EnablePrecopyInfoV2() {
  core_->EnablePrecopyInfoV2();
  return absl::OkStatus();
}
absl::Status EmuDevice::Reset() { return core_->Reset(); }
uint64_t EmuDevice::StateDigest() { return core_->StateDigest(); }
void EmuDevice::SetArcHook(ArcHook hook) { core_->SetArcHook(std::move(hook)); }

}  // namespace vmig::vfio::emu
