// The one interface every migratable device backend implements: the kernel
// backend (real VFIO ioctls) and the emulated device. Poll loops and the
// migration engine see only these two classes.
#ifndef VMIGD_VFIO_DEVICE_H_
#define VMIGD_VFIO_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "vfio/state.h"

namespace vmig::vfio {

// VFIO_MIG_GET_PRECOPY_INFO. `reinit` is meaningful only after
// EnablePrecopyInfoV2(); without it the kernel's flags are ignored.
struct PrecopyInfo {
  uint64_t initial_bytes = 0;
  uint64_t dirty_bytes = 0;
  bool reinit = false;
};

// What a read() on a data_fd can mean; the outcomes the uAPI keeps distinct
// stay distinct here.
enum class ReadOutcome {
  kData,          // `bytes` > 0 bytes were read
  kNoMoreForNow,  // ENOMSG: pre-copy has caught up; poll for more
  kEndOfStream,   // read() returned 0: STOP_COPY is complete, permanently
  kWouldBlock,    // EAGAIN on a non-blocking session; poll for readiness
};

struct ReadResult {
  ReadOutcome outcome = ReadOutcome::kData;
  size_t bytes = 0;
};

// A data transfer session (the data_fd) opened by an arc into the saving
// group or into RESUMING. It stays valid while the device stays in the
// group; once the device leaves it, reads and writes fail.
class DataSession {
 public:
  virtual ~DataSession() = default;

  virtual absl::StatusOr<ReadResult> Read(absl::Span<uint8_t> buf) = 0;
  // Writes some prefix of `buf`; returns how much (0 only if non-blocking and
  // the device cannot take more now). Callers loop: see WriteAll().
  virtual absl::StatusOr<size_t> Write(absl::Span<const uint8_t> buf) = 0;
  // Valid in PRE_COPY and PRE_COPY_P2P only (FailedPrecondition otherwise).
  virtual absl::StatusOr<PrecopyInfo> GetPrecopyInfo() = 0;
  // A pollable fd that signals ready_events() when the session can make
  // progress: Read() would not return kWouldBlock / kNoMoreForNow, or
  // Write() would accept bytes. Poll loops treat every backend alike.
  virtual int poll_fd() const = 0;
  // POLLIN or POLLOUT: what to poll poll_fd() for.
  virtual short ready_events() const = 0;
  virtual absl::Status SetNonBlocking(bool nonblocking) = 0;
};

// What Read() says to an empty buffer, on every backend: a zero-length
// read() returns 0, indistinguishable from the end of the stream.
absl::Status EmptyReadError();

// Writes all of `buf`, looping over short writes and waiting on poll_fd()
// when a non-blocking session pushes back (up to `timeout` without progress).
absl::Status WriteAll(DataSession& session, absl::Span<const uint8_t> buf,
                      absl::Duration timeout = absl::Seconds(30));

class MigrationDevice {
 public:
  virtual ~MigrationDevice() = default;

  virtual const std::string& name() const = 0;
  // "kernel" or "emu".
  virtual absl::string_view backend() const = 0;

  // VFIO_DEVICE_FEATURE_MIGRATION; Unimplemented if the device has no
  // migration support (ENOTTY).
  virtual absl::StatusOr<MigrationFlags> GetMigrationFlags() = 0;
  virtual absl::StatusOr<DeviceState> GetState() = 0;
  // Moves the device to `target` (the kernel walks the arcs). Returns the new
  // data session when the path ends with an arc that opens one, else null.
  // On failure the device may be anywhere, including ERROR: call GetState().
  virtual absl::StatusOr<std::unique_ptr<DataSession>> SetState(
      DeviceState target) = 0;
  // VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: what STOP_COPY would stream now.
  virtual absl::StatusOr<uint64_t> GetStopCopyLength() = 0;
  // VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2: opt in to the REINIT flag.
  virtual absl::Status EnablePrecopyInfoV2() = 0;
  // VFIO_DEVICE_RESET: the only way out of ERROR; ends any session and
  // leaves the device RUNNING.
  virtual absl::Status Reset() = 0;
};

}  // namespace vmig::vfio

#endif  // VMIGD_VFIO_DEVICE_H_
