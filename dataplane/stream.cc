#include "dataplane/stream.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace vmig::dataplane {
namespace {

// The state word as the kernel's futex sees it: std::atomic<int> is a
// plain, lock-free int in memory on Linux.
static_assert(sizeof(std::atomic<int>) == sizeof(int) &&
              std::atomic<int>::is_always_lock_free);
int* FutexWord(const std::atomic<int>& word) {
  return reinterpret_cast<int*>(const_cast<std::atomic<int>*>(&word));
}

}  // namespace

void Stream::MarkRunning() {
  state_.store(kRunning, std::memory_order_seq_cst);
  syscall(SYS_futex, FutexWord(state_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

bool Stream::WaitTaken(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (state() == kPending) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const timespec ts = absl::ToTimespec(left);
    // Sleeps only while the word still reads kPending: a store and wake
    // before this call returns at once (EAGAIN).
    syscall(SYS_futex, FutexWord(state_), FUTEX_WAIT_PRIVATE, kPending, &ts,
            nullptr, 0);
  }
  return true;
}

absl::StatusOr<std::shared_ptr<Stream>> Stream::Create(StreamSpec spec) {
  if (!spec.flow) spec.flow = FlowConfig();
  // Both ways: the worker polls, it never waits on a device.
  if (absl::Status st = spec.data->SetNonBlocking(true); !st.ok()) return st;
  if (spec.protection != Protection::kNone &&
      spec.protection != Protection::kAes256Gcm) {
    return absl::InvalidArgumentError("unknown frame protection");
  }
  if (spec.protection == Protection::kAes256Gcm &&
      (spec.send_key == AeadKeyBytes{} || spec.receive_key == AeadKeyBytes{})) {
    return absl::InvalidArgumentError(
        "an encrypted stream needs its session's keys");
  }
  auto s = std::make_shared<Stream>(spec);
  if (spec.protection == Protection::kAes256Gcm) {
    s->context_->send_key = std::make_unique<AeadKey>(spec.send_key);
    s->context_->receive_key = std::make_unique<AeadKey>(spec.receive_key);
  }
  spec.send_key.fill(0);
  spec.receive_key.fill(0);
  s->context_->cap = s->spec_.cap.get();
  if (spec.role == StreamRole::kSend) {
    s->context_->sender = std::make_unique<SenderFlow>(*spec.flow);
  } else {
    s->context_->receiver = std::make_unique<ReceiverFlow>(*spec.flow);
  }
  return s;
}

absl::Status Stream::error() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

bool Stream::CancelAndWait(absl::Duration timeout,
                           std::unique_ptr<vfio::DataSession>* data) {
  if (!finished()) Cancel();
  (void)Wait(timeout);
  if (finished()) return true;
  if (data != nullptr) {
    absl::MutexLock lock(&mu_);
    kept_data_ = std::move(*data);
  }
  return false;
}

void Stream::Finish(State s, absl::Status why) {
  absl::MutexLock lock(&mu_);
  error_ = std::move(why);
  state_.store(s, std::memory_order_release);
  done_.SignalAll();
}

absl::Status Stream::Wait(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (state() < kDone) {
    if (done_.WaitWithDeadline(&mu_, deadline)) break;
  }
  switch (state()) {
    case kDone:
      return absl::OkStatus();
    case kFailed:
      return error_;
    case kCancelled:
      return absl::CancelledError("stream cancelled");
    default:
      return absl::DeadlineExceededError(
          absl::StrCat("stream ", spec_.stream_id, " not finished after ",
                       absl::FormatDuration(timeout)));
  }
}

void Stream::Publish(const StreamStats& stats) {
  absl::MutexLock lock(&mu_);
  stats_ = stats;
}

StreamStats Stream::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace vmig::dataplane
