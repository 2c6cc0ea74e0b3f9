// ThreadSanitizer cannot see Debian's Abseil synchronize: libabsl is not
// built with TSan, so absl::Mutex, CondVar and Notification order memory in
// code it does not instrument, and every access guarded by them looks like
// a race. Linked into TSan builds only (VMIG_SANITIZE=thread), this file
// interposes those entry points (the executable's definitions win over the
// shared library's), calls the real ones through dlsym(RTLD_NEXT), and tells
// TSan what they did: acquire after a lock or a wake-up, release before an
// unlock, a wait or a notification. It changes no behaviour.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdint>
#include <cstdlib>

namespace {

struct Duration {  // absl::Duration's layout, passed by value
  int64_t hi;
  uint32_t lo;
};
struct Time {
  Duration d;
};

template <typename F>
F Real(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (!f) std::abort();
  return reinterpret_cast<F>(f);
}

}  // namespace

#define VMIG_REAL(type, name) static const auto real = Real<type>(name)

extern "C" {

// absl::Mutex::Lock / TryLock / Unlock and the reader forms.
void _ZN4absl7debian35Mutex4LockEv(void* mu) {
  VMIG_REAL(void (*)(void*), "_ZN4absl7debian35Mutex4LockEv");
  real(mu);
  __tsan_acquire(mu);
}
bool _ZN4absl7debian35Mutex7TryLockEv(void* mu) {
  VMIG_REAL(bool (*)(void*), "_ZN4absl7debian35Mutex7TryLockEv");
  const bool got = real(mu);
  if (got) __tsan_acquire(mu);
  return got;
}
void _ZN4absl7debian35Mutex6UnlockEv(void* mu) {
  VMIG_REAL(void (*)(void*), "_ZN4absl7debian35Mutex6UnlockEv");
  __tsan_release(mu);
  real(mu);
}
void _ZN4absl7debian35Mutex10ReaderLockEv(void* mu) {
  VMIG_REAL(void (*)(void*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(mu);
  __tsan_acquire(mu);
}
bool _ZN4absl7debian35Mutex13ReaderTryLockEv(void* mu) {
  VMIG_REAL(bool (*)(void*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool got = real(mu);
  if (got) __tsan_acquire(mu);
  return got;
}
void _ZN4absl7debian35Mutex12ReaderUnlockEv(void* mu) {
  VMIG_REAL(void (*)(void*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  __tsan_release(mu);
  real(mu);
}

// Conditional locking and waiting: the mutex is held on return.
void _ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(void* mu,
                                                       const void* cond) {
  VMIG_REAL(void (*)(void*, const void*),
            "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  real(mu, cond);
  __tsan_acquire(mu);
}
bool _ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    void* mu, const void* cond, Duration d) {
  VMIG_REAL(bool (*)(void*, const void*, Duration),
            "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_"
            "9ConditionENS0_8DurationE");
  const bool r = real(mu, cond, d);
  __tsan_acquire(mu);
  return r;
}
void _ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(void* mu,
                                                    const void* cond) {
  VMIG_REAL(void (*)(void*, const void*),
            "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  __tsan_release(mu);
  real(mu, cond);
  __tsan_acquire(mu);
}
bool _ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    void* mu, const void* cond, Duration d) {
  VMIG_REAL(bool (*)(void*, const void*, Duration),
            "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_"
            "8DurationE");
  __tsan_release(mu);
  const bool r = real(mu, cond, d);
  __tsan_acquire(mu);
  return r;
}
void _ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(void* cv, void* mu) {
  VMIG_REAL(void (*)(void*, void*),
            "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(cv, mu);
  __tsan_acquire(mu);
}
bool _ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(
    void* cv, void* mu, Duration d) {
  VMIG_REAL(bool (*)(void*, void*, Duration),
            "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_"
            "8DurationE");
  __tsan_release(mu);
  const bool r = real(cv, mu, d);
  __tsan_acquire(mu);
  return r;
}
bool _ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(void* cv,
                                                                       void* mu,
                                                                       Time t) {
  VMIG_REAL(bool (*)(void*, void*, Time),
            "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_"
            "4TimeE");
  __tsan_release(mu);
  const bool r = real(cv, mu, t);
  __tsan_acquire(mu);
  return r;
}

// absl::Notification: Notify happens before a wait that sees it.
void _ZN4absl7debian312Notification6NotifyEv(void* n) {
  VMIG_REAL(void (*)(void*), "_ZN4absl7debian312Notification6NotifyEv");
  __tsan_release(n);
  real(n);
}
void _ZNK4absl7debian312Notification19WaitForNotificationEv(const void* n) {
  VMIG_REAL(void (*)(const void*),
            "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  real(n);
  __tsan_acquire(const_cast<void*>(n));
}
bool _ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const void* n, Duration d) {
  VMIG_REAL(bool (*)(const void*, Duration),
            "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeout"
            "ENS0_8DurationE");
  const bool r = real(n, d);
  if (r) __tsan_acquire(const_cast<void*>(n));
  return r;
}

}  // extern "C"
