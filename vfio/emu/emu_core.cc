#include "vfio/emu/emu_core.h"

#include <poll.h>
#include <sys/timerfd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fmt_absl.h"
#include "spdlog/spdlog.h"
#include "vfio/emu/state_file.h"
#include "vfio/fsm.h"
#include "vfio/transition_log.h"

namespace vmig::vfio::emu {
namespace {

// The data_fd of an emulated device. Its poll fd is a timerfd that the core
// arms for "ready now" or "ready at t" (more dirty data, or the end of a
// bandwidth pause), so that waiting costs no thread.
class EmuSession final : public DataSession {
 public:
  EmuSession(std::shared_ptr<EmuCore> core, uint64_t gen, UniqueFd ready)
      : core_(std::move(core)), gen_(gen), ready_(std::move(ready)) {}
  ~EmuSession() override { core_->CloseSession(gen_); }

  absl::StatusOr<ReadResult> Read(absl::Span<uint8_t> buf) override {
    return core_->Read(gen_, buf, nonblocking_);
  }
  absl::StatusOr<size_t> Write(absl::Span<const uint8_t> buf) override {
    return core_->Write(gen_, buf, nonblocking_);
  }
  absl::StatusOr<PrecopyInfo> GetPrecopyInfo() override {
    return core_->GetPrecopyInfo(gen_);
  }
  int poll_fd() const override { return ready_.get(); }
  short ready_events() const override { return POLLIN; }
  absl::Status SetNonBlocking(bool nonblocking) override {
    nonblocking_ = nonblocking;
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<EmuCore> core_;
  const uint64_t gen_;
  UniqueFd ready_;
  bool nonblocking_ = false;
};

constexpr int64_t kOneMilli = 1000000;

// How far the device's saving runs ahead of its reader, in time at its read
// rate: read_ahead= bytes, or 1 ms when the spec gives none.
int64_t ReadBankNanos(const EmuSpec& spec) {
  if (!spec.read_ahead_bytes || spec.read_bytes_per_s <= 0) return kOneMilli;
  return static_cast<int64_t>(static_cast<double>(*spec.read_ahead_bytes) *
                              1e9 / spec.read_bytes_per_s);
}

}  // namespace

EmuCore::EmuCore(const EmuSpec& spec)
    : spec_(spec),
      fail_arc_(spec.fail_arc),
      content_(std::make_unique<BlockContent>(spec.seed, spec.block_bytes)),
      blocks_(spec.state_bytes, spec.block_bytes),
      read_throttle_(spec.read_bytes_per_s, ReadBankNanos(spec)),
      write_throttle_(spec.write_bytes_per_s, kOneMilli) {
  absl::MutexLock lock(&mu_);
  StartWorkload(MonotonicNanos());
  if (!spec_.state_file.empty()) Reload();
}

void EmuCore::Reload() {
  absl::StatusOr<SavedState> saved = LoadState(spec_.state_file);
  if (!saved.ok()) {
    if (!absl::IsNotFound(saved.status()))
      spdlog::warn("{}: {}: starting afresh", spec_.name,
                   saved.status().message());
    Persist();
    return;
  }
  if (saved->state_bytes != spec_.state_bytes ||
      saved->block_bytes != spec_.block_bytes ||
      saved->versions.size() != blocks_.num_blocks()) {
    spdlog::warn("{}: {} holds a device of another size: starting afresh",
                 spec_.name, spec_.state_file);
    Persist();
    return;
  }
  // A data session does not outlive its process: a device saved mid-
  // migration comes back in its state, without the session.
  state_ = saved->state;
  content_ = std::make_unique<BlockContent>(saved->seed, spec_.block_bytes);
  blocks_.version = std::move(saved->versions);
  dirty_sequence_ = saved->dirty_sequence;
  if (!IsRunningState(state_)) StopWorkload(MonotonicNanos());
  spdlog::info("{}: reloaded from {} in {}", spec_.name, spec_.state_file,
               DeviceStateName(state_));
}

void EmuCore::Persist() {
  if (spec_.state_file.empty()) return;
  SavedState s;
  s.state_bytes = spec_.state_bytes;
  s.block_bytes = spec_.block_bytes;
  s.state = state_;
  s.seed = content_->seed();
  s.dirty_sequence = dirty_sequence_;
  s.versions = blocks_.version;
  if (absl::Status st = SaveState(spec_.state_file, s); !st.ok())
    spdlog::error("{}: saving its state: {}", spec_.name, st.message());
}

absl::StatusOr<DeviceState> EmuCore::GetState() {
  absl::MutexLock lock(&mu_);
  return state_;
}

void EmuCore::SetArcHook(EmuDevice::ArcHook hook) {
  absl::MutexLock lock(&arc_mu_);
  arc_hook_ = std::move(hook);
}

absl::StatusOr<std::unique_ptr<DataSession>> EmuCore::SetState(
    DeviceState target) {
  absl::MutexLock arc_lock(&arc_mu_);
  DeviceState cur;
  {
    absl::MutexLock lock(&mu_);
    cur = state_;
  }
  std::unique_ptr<DataSession> session;
  // The kernel core walks the path one arc at a time and the driver runs
  // each arc; so does this device.
  while (cur != target) {
    absl::StatusOr<DeviceState> next = NextState(spec_.flags, cur, target);
    if (!next.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec_.name, ": ", next.status().message()));
    }
    const int64_t start = MonotonicNanos();
    if (spec_.transition > absl::ZeroDuration())
      absl::SleepFor(spec_.transition);
    absl::Status st = arc_hook_ ? arc_hook_(cur, *next) : absl::OkStatus();
    if (st.ok() && fail_arc_ && fail_arc_->first == cur &&
        fail_arc_->second == *next) {
      fail_arc_.reset();
      st = absl::ErrnoToStatus(EIO, "injected arc failure");
    }
    UniqueFd ready_fd;
    if (st.ok() && ArcOpensDataSession(cur, *next)) {
      ready_fd.reset(
          timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
      if (!ready_fd.valid()) st = absl::ErrnoToStatus(errno, "timerfd_create");
    }
    absl::MutexLock lock(&mu_);
    if (st.ok()) st = ApplyArc(cur, *next);
    if (!st.ok()) {
      // A failed arc may leave a device in ERROR; this one always does, the
      // worst case a controller must handle. Only a reset leaves ERROR.
      EndSession();
      if (running_) StopWorkload(MonotonicNanos());
      state_ = DeviceState::kError;
      Persist();
      TransitionLog::Global().Record(
          {spec_.name, cur, *next, start, MonotonicNanos(), false, false});
      return absl::Status(
          st.code(),
          absl::StrCat(spec_.name, ": arc ", DeviceStateName(cur), " -> ",
                       DeviceStateName(*next), " failed: ", st.message()));
    }
    state_ = *next;
    Persist();
    TransitionLog::Global().Record(
        {spec_.name, cur, *next, start, MonotonicNanos(), true, false});
    if (ready_fd.valid()) {
      ready_fd_ = ready_fd.get();
      ready_ = false;
      SetReady();
      session = std::make_unique<EmuSession>(shared_from_this(), session_gen_,
                                             std::move(ready_fd));
    }
    cur = *next;
  }
  return session;
}

absl::Status EmuCore::ApplyArc(DeviceState from, DeviceState to) {
  const int64_t now = MonotonicNanos();
  const bool was_running = IsRunningState(from);
  const bool will_run = IsRunningState(to);
  if (was_running && !will_run) StopWorkload(now);
  if (!was_running && will_run) StartWorkload(now);
  if (was_running && will_run) AdvanceWorkload(now);

  using S = DeviceState;
  if ((from == S::kRunning && to == S::kPreCopy) ||
      (from == S::kRunningP2P && to == S::kPreCopyP2P) ||
      (from == S::kStop && to == S::kStopCopy)) {
    EndSession();
    ++session_gen_;
    session_open_ = true;
    save_ = std::make_unique<SaveStream>(blocks_, *content_);
    precopy_bytes_read_ = 0;
    read_throttle_.Restart(now);  // told to save: nothing is saved yet
    if (to == S::kStopCopy) save_->EnterStopCopy();
  } else if (to == S::kStopCopy) {
    // PRE_COPY(_P2P) -> STOP_COPY: the same session streams the rest, which
    // the device starts saving now (mlx5 issues its final save at this arc).
    save_->EnterStopCopy();
    read_throttle_.Restart(now);
    SetReady();
  } else if (IsSavingState(from) && !IsSavingState(to)) {
    EndSession();
  } else if (from == S::kStop && to == S::kResuming) {
    EndSession();
    ++session_gen_;
    session_open_ = true;
    load_ = std::make_unique<LoadStream>(spec_.state_bytes, spec_.block_bytes);
  } else if (from == S::kResuming && to == S::kStop) {
    if (absl::Status s = load_->Finish(); !s.ok()) return s;
    // The loaded state becomes this device's state.
    content_ = std::make_unique<BlockContent>(load_->seed(), spec_.block_bytes);
    blocks_.version = load_->versions();
    for (uint64_t b = 0; b < blocks_.num_blocks(); ++b) {
      blocks_.CacheHash(b, blocks_.version[b], load_->hashes()[b]);
    }
    EndSession();
  }
  return absl::OkStatus();
}

void EmuCore::EndSession() {
  if (ready_fd_ >= 0) {
    // Wake any poller so that it sees the session is gone.
    ready_ = false;
    SetReady();
  }
  ready_fd_ = -1;
  session_open_ = false;
  save_.reset();
  load_.reset();
}

void EmuCore::CloseSession(uint64_t session) {
  absl::MutexLock lock(&mu_);
  if (session == session_gen_) ready_fd_ = -1;
}

absl::Status EmuCore::Reset() {
  absl::MutexLock arc_lock(&arc_mu_);
  absl::MutexLock lock(&mu_);
  const DeviceState from = state_;
  const int64_t now = MonotonicNanos();
  EndSession();
  if (!running_) StartWorkload(now);
  // A RESUMING device drops what it received; every device keeps its own
  // state, so a source that is reset after a failed arc still holds it.
  state_ = DeviceState::kRunning;
  Persist();
  TransitionLog::Global().Record({spec_.name, from, DeviceState::kRunning, now,
                                  MonotonicNanos(), true, true});
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> EmuCore::GetStopCopyLength() {
  absl::MutexLock lock(&mu_);
  AdvanceWorkload(MonotonicNanos());
  return save_ ? save_->stop_copy_length() : blocks_.FullStreamBytes();
}

void EmuCore::EnablePrecopyInfoV2() {
  absl::MutexLock lock(&mu_);
  precopy_v2_ = true;
}

uint64_t EmuCore::StateDigest() {
  absl::MutexLock lock(&mu_);
  AdvanceWorkload(MonotonicNanos());
  return blocks_.Digest(*content_);
}

absl::Status EmuCore::CheckSession(uint64_t session, bool saving) const {
  if (!session_open_ || session != session_gen_) {
    return absl::FailedPreconditionError(
        absl::StrCat(spec_.name, ": data session is closed (device is ",
                     DeviceStateName(state_), ")"));
  }
  if (saving && !save_) {
    return absl::FailedPreconditionError(
        absl::StrCat(spec_.name, ": read on a RESUMING data session"));
  }
  if (!saving && !load_) {
    return absl::FailedPreconditionError(
        absl::StrCat(spec_.name, ": write on a saving data session"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ReadResult> EmuCore::Read(uint64_t session,
                                         absl::Span<uint8_t> buf,
                                         bool nonblocking) {
  if (buf.empty()) return EmptyReadError();
  absl::MutexLock lock(&mu_);
  int64_t now;
  for (;;) {
    if (absl::Status s = CheckSession(session, true); !s.ok()) return s;
    now = MonotonicNanos();
    const int64_t wait = read_throttle_.WaitNanos(now);
    if (wait == 0) break;
    if (nonblocking) {
      SetReadyAt(read_throttle_.ready_at());
      return ReadResult{ReadOutcome::kWouldBlock, 0};
    }
    mu_.Unlock();
    absl::SleepFor(absl::Nanoseconds(wait));
    mu_.Lock();
  }
  AdvanceWorkload(now);
  const uint64_t offset = save_->offset();
  const size_t n = save_->Produce(buf.data(), buf.size());
  if (n == 0) {
    if (save_->finished()) {
      SetReady();
      return ReadResult{ReadOutcome::kEndOfStream, 0};
    }
    // Only pre-copy can catch up: STOP_COPY always has data or the trailer.
    SetReadyAt(NextDirtyAt());
    return ReadResult{ReadOutcome::kNoMoreForNow, 0};
  }
  if (spec_.corrupt_at && !corrupted_ && *spec_.corrupt_at >= offset &&
      *spec_.corrupt_at < offset + n) {
    buf[*spec_.corrupt_at - offset] ^= 0xff;
    corrupted_ = true;
  }
  if (IsPreCopyState(state_)) {
    precopy_bytes_read_ += n;
    MaybeReinit();
  }
  read_throttle_.Charge(now, n);
  if (!save_->HasData()) {
    SetReadyAt(save_->finished() ? std::optional<int64_t>(now) : NextDirtyAt());
  } else if (read_throttle_.WaitNanos(now) > 0) {
    SetReadyAt(read_throttle_.ready_at());
  } else {
    SetReady();
  }
  return ReadResult{ReadOutcome::kData, n};
}

absl::StatusOr<size_t> EmuCore::Write(uint64_t session,
                                      absl::Span<const uint8_t> buf,
                                      bool nonblocking) {
  absl::MutexLock lock(&mu_);
  int64_t now;
  for (;;) {
    if (absl::Status s = CheckSession(session, false); !s.ok()) return s;
    now = MonotonicNanos();
    const int64_t wait = write_throttle_.WaitNanos(now);
    if (wait == 0) break;
    if (nonblocking) {
      SetReadyAt(write_throttle_.ready_at());
      return 0;
    }
    mu_.Unlock();
    absl::SleepFor(absl::Nanoseconds(wait));
    mu_.Lock();
  }
  if (absl::Status s = load_->Consume(buf.data(), buf.size()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(spec_.name, ": ", s.message()));
  }
  write_throttle_.Charge(now, buf.size());
  if (write_throttle_.WaitNanos(now) > 0) {
    SetReadyAt(write_throttle_.ready_at());
  } else {
    SetReady();
  }
  return buf.size();
}

absl::StatusOr<PrecopyInfo> EmuCore::GetPrecopyInfo(uint64_t session) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckSession(session, true); !s.ok()) return s;
  if (!IsPreCopyState(state_)) {
    return absl::ErrnoToStatus(
        EINVAL, absl::StrCat(spec_.name,
                             ": PRECOPY_INFO is valid only in "
                             "PRE_COPY and PRE_COPY_P2P, device is ",
                             DeviceStateName(state_)));
  }
  AdvanceWorkload(MonotonicNanos());
  PrecopyInfo info{save_->initial_bytes(), save_->dirty_bytes(), false};
  // Without the v2 opt-in the flags field carries nothing (uAPI rule).
  if (precopy_v2_ && reinit_pending_) {
    info.reinit = true;
    reinit_pending_ = false;
  }
  return info;
}

void EmuCore::MaybeReinit() {
  if (spec_.reinit_after && !reinit_done_ &&
      precopy_bytes_read_ >= *spec_.reinit_after) {
    save_->Reinit();
    reinit_done_ = true;
    reinit_pending_ = true;
  }
}

void EmuCore::StartWorkload(int64_t now) {
  running_ = true;
  run_start_ns_ = now;
  dirtied_since_start_ = 0;
}

void EmuCore::StopWorkload(int64_t now) {
  AdvanceWorkload(now);
  running_ = false;
}

void EmuCore::AdvanceWorkload(int64_t now) {
  if (!running_ || spec_.dirty_bytes_per_s <= 0) return;
  // The workload is computed lazily from elapsed time: the same dirtying as
  // a thread writing at the dirty rate, without the thread.
  const double elapsed_s = static_cast<double>(now - run_start_ns_) * 1e-9;
  const auto due = static_cast<uint64_t>(elapsed_s * spec_.dirty_bytes_per_s /
                                         spec_.block_bytes);
  const uint64_t n = blocks_.num_blocks();
  while (dirtied_since_start_ < due) {
    const uint64_t b = Mix64(spec_.seed ^ Mix64(dirty_sequence_++)) % n;
    ++blocks_.version[b];
    if (save_) save_->OnDirty(b);
    ++dirtied_since_start_;
  }
}

std::optional<int64_t> EmuCore::NextDirtyAt() const {
  if (!running_ || spec_.dirty_bytes_per_s <= 0) return std::nullopt;
  const double s = static_cast<double>(dirtied_since_start_ + 1) *
                   spec_.block_bytes / spec_.dirty_bytes_per_s;
  return run_start_ns_ + static_cast<int64_t>(s * 1e9) + 1;
}

void EmuCore::SetReady() {
  if (ready_fd_ < 0 || ready_) return;
  itimerspec its = {};
  its.it_value.tv_nsec = 1;  // fires at once: readable until re-armed
  timerfd_settime(ready_fd_, 0, &its, nullptr);
  ready_ = true;
}

void EmuCore::SetReadyAt(std::optional<int64_t> when) {
  if (ready_fd_ < 0) return;
  // Re-arming clears the expirations, so the fd is not readable until then;
  // a zero it_value disarms it (never ready).
  itimerspec its = {};
  if (when) {
    its.it_value.tv_sec = *when / 1000000000;
    its.it_value.tv_nsec = *when % 1000000000;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
      its.it_value.tv_nsec = 1;
  }
  timerfd_settime(ready_fd_, TFD_TIMER_ABSTIME, &its, nullptr);
  ready_ = false;
}

}  // namespace vmig::vfio::emu
