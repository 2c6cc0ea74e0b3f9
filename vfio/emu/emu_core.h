// The state behind an emulated device and its data sessions (private to
// vfio/emu). One mutex covers it, as a driver's state mutex would; arcs are
// serialized by a second one so that a slow arc does not block the stream.
#ifndef VMIGD_VFIO_EMU_EMU_CORE_H_
#define VMIGD_VFIO_EMU_EMU_CORE_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/unique_fd.h"
#include "vfio/device.h"
#include "vfio/emu/block_table.h"
#include "vfio/emu/content.h"
#include "vfio/emu/emu_device.h"
#include "vfio/emu/load_stream.h"
#include "vfio/emu/save_stream.h"
#include "vfio/emu/spec.h"
#include "vfio/emu/throttle.h"

namespace vmig::vfio::emu {

class EmuCore : public std::enable_shared_from_this<EmuCore> {
 public:
  explicit EmuCore(const EmuSpec& spec);

  const EmuSpec& spec() const { return spec_; }
  absl::StatusOr<DeviceState> GetState();
  absl::StatusOr<std::unique_ptr<DataSession>> SetState(DeviceState target);
  absl::StatusOr<uint64_t> GetStopCopyLength();
  void EnablePrecopyInfoV2();
  absl::Status Reset();
  uint64_t StateDigest();
  void SetArcHook(EmuDevice::ArcHook hook);

  // Data-session entry points; `session` is the generation the session was
  // opened with, so a stale session object gets an error, not another
  // session's data.
  absl::StatusOr<ReadResult> Read(uint64_t session, absl::Span<uint8_t> buf,
                                  bool nonblocking);
  absl::StatusOr<size_t> Write(uint64_t session, absl::Span<const uint8_t> buf,
                               bool nonblocking);
  absl::StatusOr<PrecopyInfo> GetPrecopyInfo(uint64_t session);
  void CloseSession(uint64_t session);

 private:
  absl::Status CheckSession(uint64_t session, bool saving) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyArc(DeviceState from, DeviceState to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::unique_ptr<DataSession>> OpenSession(bool saving)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndSession() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdvanceWorkload(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartWorkload(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopWorkload(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Readiness of the session's poll fd: now, at a later time, or never.
  void SetReady() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetReadyAt(std::optional<int64_t> when)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<int64_t> NextDirtyAt() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeReinit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // state_file: writes the state there (after every transition), and reads
  // it back when the device is made.
  void Persist() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const EmuSpec spec_;
  absl::Mutex arc_mu_;  // serializes SetState / Reset
  EmuDevice::ArcHook arc_hook_ ABSL_GUARDED_BY(arc_mu_);
  std::optional<std::pair<DeviceState, DeviceState>> fail_arc_
      ABSL_GUARDED_BY(arc_mu_);

  mutable absl::Mutex mu_;
  DeviceState state_ ABSL_GUARDED_BY(mu_) = DeviceState::kRunning;
  std::unique_ptr<BlockContent> content_ ABSL_GUARDED_BY(mu_);
  BlockTable blocks_ ABSL_GUARDED_BY(mu_);
  bool precopy_v2_ ABSL_GUARDED_BY(mu_) = false;

  // The workload: while running, blocks are re-dirtied at spec_.dirty rate.
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  int64_t run_start_ns_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dirtied_since_start_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dirty_sequence_ ABSL_GUARDED_BY(mu_) = 0;

  // The open data session, if any.
  uint64_t session_gen_ ABSL_GUARDED_BY(mu_) = 0;
  bool session_open_ ABSL_GUARDED_BY(mu_) = false;
  int ready_fd_ ABSL_GUARDED_BY(mu_) = -1;  // owned by the session object
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<SaveStream> save_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<LoadStream> load_ ABSL_GUARDED_BY(mu_);
  Throttle read_throttle_ ABSL_GUARDED_BY(mu_);
  Throttle write_throttle_ ABSL_GUARDED_BY(mu_);
  bool corrupted_ ABSL_GUARDED_BY(mu_) = false;
  bool reinit_done_ ABSL_GUARDED_BY(mu_) = false;
  bool reinit_pending_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t precopy_bytes_read_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_EMU_CORE_H_
