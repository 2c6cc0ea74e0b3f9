// Migrates one device into another inside one process: the whole VFIO
// protocol (pre-copy, stop-copy, load, resume) without a network. It is the
// emulated-device round trip of the README and the reference the daemon's
// engine is tested against; the engine itself lives in daemon/.
#ifndef VMIGD_VFIO_LOCAL_MIGRATION_H_
#define VMIGD_VFIO_LOCAL_MIGRATION_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "vfio/device.h"

namespace vmig::vfio {

struct LocalMigrationOptions {
  size_t chunk_bytes = 1 << 20;  // QEMU's read size
  // Switch over once initial data is sent and dirty bytes are at most this.
  uint64_t switchover_dirty_bytes = 0;
  // ... or after this long in pre-copy, whatever is left.
  absl::Duration max_precopy = absl::Seconds(10);
  // Leave the destination stopped (STOP) instead of RUNNING.
  bool leave_destination_stopped = false;
  // Sees every chunk on its way (stream offset, bytes); returns false to drop
  // it. For fault-injection tests.
  std::function<bool(uint64_t offset, absl::Span<uint8_t> chunk)> chunk_filter;
};

struct LocalMigrationResult {
  uint64_t precopy_bytes = 0;
  uint64_t stopcopy_bytes = 0;
  int precopy_rounds = 0;  // times pre-copy caught up (ENOMSG)
  absl::Duration precopy_time;
  absl::Duration downtime;  // source leaves RUNNING-ish .. destination runs
};

// On failure the source is returned to RUNNING (reset if it is in ERROR) and
// the destination is reset, so nothing is lost.
absl::StatusOr<LocalMigrationResult> MigrateLocally(
    MigrationDevice& source, MigrationDevice& destination,
    const LocalMigrationOptions& options = {});

}  // namespace vmig::vfio

#endif  // VMIGD_VFIO_LOCAL_MIGRATION_H_
