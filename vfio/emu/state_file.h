// An emulated device's state on disk, so that the device outlives the
// process that emulates it: the FSM state, the content seed and every
// block's version (the content is a function of them), and where its
// workload's dirtying stands. Written whole to a new file renamed over the
// old one, so that a reader finds the last complete state.
#ifndef VMIGD_VFIO_EMU_STATE_FILE_H_
#define VMIGD_VFIO_EMU_STATE_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vfio/state.h"

namespace vmig::vfio::emu {

struct SavedState {
  uint64_t state_bytes = 0;
  uint32_t block_bytes = 0;
  DeviceState state = DeviceState::kRunning;
  uint64_t seed = 0;
  uint64_t dirty_sequence = 0;
  std::vector<uint32_t> versions;
};

absl::Status SaveState(const std::string& path, const SavedState& s);
// NOT_FOUND if there is no file; DATA_LOSS if it is not a whole state.
absl::StatusOr<SavedState> LoadState(const std::string& path);

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_STATE_FILE_H_
