// libFuzzer: the emulated device's stream loader, as a destination device
// in RESUMING is fed a stream from a peer: arbitrary bytes written, then
// RESUMING -> STOP (where the loader validates what it got). It must
// refuse garbage with an error, never crash, and stay fast: a small device
// (64 KiB in 4 KiB blocks) is made once and reset between inputs.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "vfio/emu/emu_device.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using vmig::vfio::DeviceState;
  static std::unique_ptr<vmig::vfio::emu::EmuDevice> device = [] {
    auto d = vmig::vfio::emu::EmuDevice::Create(
        "emu:state=64KiB,block=4KiB,flags=stop_copy|p2p|pre_copy");
    return d.ok() ? std::move(*d) : nullptr;
  }();
  if (!device) return 0;
  (void)device->Reset();
  auto session = device->SetState(DeviceState::kResuming);
  if (!session.ok() || !*session) return 0;
  // In pieces, as frames arrive: the loader must cope with any split.
  size_t done = 0;
  while (done < size) {
    const size_t piece = std::min<size_t>(size - done, 1 + data[done] % 97);
    auto n = (*session)->Write(absl::MakeConstSpan(data + done, piece));
    if (!n.ok() || *n == 0) break;
    done += *n;
  }
  session->reset();
  (void)device->SetState(DeviceState::kStop);
  return 0;
}
