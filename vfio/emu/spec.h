// The emulated device's configuration, from a spec string such as
// "emu:name=nic0,state=256MiB,dirty=32MiB/s,read_bw=2GiB/s,write_bw=2GiB/s,
//  flags=stop_copy|p2p|pre_copy,transition_ms=5,seed=7".
#ifndef VMIGD_VFIO_EMU_SPEC_H_
#define VMIGD_VFIO_EMU_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "vfio/state.h"

namespace vmig::vfio::emu {

// What one block of an emulated device costs in memory (its version and
// its cached hash).
inline constexpr uint64_t kEmuBytesPerBlock = 16;
// The most blocks an emulated device may have (16 bytes of memory each:
// 256 MiB of bookkeeping; 64 TiB of state in 4 MiB blocks).
inline constexpr uint64_t kMaxEmuBlocks = 1ull << 24;

struct EmuSpec {
  std::string name = "emu0";
  uint64_t state_bytes = 64ull << 20;  // state=
  uint32_t block_bytes = 64u << 10;    // block=  (unit of dirtying/streaming)
  double dirty_bytes_per_s = 0;        // dirty=  re-dirtied while running
  double read_bytes_per_s = 0;         // read_bw=  0: as fast as memory
  double write_bytes_per_s = 0;        // write_bw= 0: as fast as memory
  // read_ahead=: how much state the device saves ahead of its reader, in
  // buffers of its own, while the reader is away (needs read_bw). mlx5
  // keeps two 8 MiB chunks saving (16MiB). Unset: 1 ms of read_bw, a
  // device that saves only while it is read.
  std::optional<uint64_t> read_ahead_bytes;
  MigrationFlags flags = kAllMigrationFlags;         // flags=
  absl::Duration transition = absl::ZeroDuration();  // transition_ms= per arc
  uint64_t seed = 1;                                 // seed=
  // state_file=PATH: the device keeps its state (FSM state, content seed,
  // block versions) in this file, rewritten at every transition and
  // reloaded when a device is made on it again: it outlives the process
  // (a daemon killed mid-migration finds it as it was). vmigd sets it
  // under its state_dir and refuses one named by a request or the
  // configuration (it writes and deletes the file as root).
  std::string state_file;

  // Fault injection.
  // fail_arc=FROM>TO: that arc fails once, leaving the device in ERROR.
  std::optional<std::pair<DeviceState, DeviceState>> fail_arc;
  // corrupt_at=OFFSET: the saving stream's byte at OFFSET is flipped once.
  std::optional<uint64_t> corrupt_at;
  // reinit_after=BYTES: REINIT is raised once after BYTES were read in
  // pre-copy; the initial data must then be streamed again.
  std::optional<uint64_t> reinit_after;

  uint64_t num_blocks() const {
    return (state_bytes + block_bytes - 1) / block_bytes;
  }
  // The canonical spec string (every field, in a fixed order).
  std::string ToString() const;
};

// Parses "emu:key=value,...". Every field is optional; unknown or repeated
// keys and bad values are InvalidArgument errors that name the field.
absl::StatusOr<EmuSpec> ParseEmuSpec(absl::string_view spec);

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_SPEC_H_
