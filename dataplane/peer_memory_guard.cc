#include "dataplane/peer_memory_guard.h"

#include <dlfcn.h>
#include <rte_interrupts.h>
#include <rte_lcore.h>
#include <rte_rcu_qsbr.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>

#include "common/clock.h"

namespace vmig::dataplane {
namespace {

constexpr unsigned kNone = ~0u;

// One quiescence domain for the process: every worker lcore of every port
// (memif's interrupt thread serves all ports at once). Made by the first
// worker, never freed; null until then, so that a process without workers
// unmaps without a look.
std::atomic<rte_rcu_qsbr*> g_domain{nullptr};
// Unmaps from the interrupt thread now in munmap, and when the last ended.
std::atomic<int> g_unmaps_in_flight{0};
std::atomic<int64_t> g_last_unmap_end_ns{0};

rte_rcu_qsbr* Domain() {
  static rte_rcu_qsbr* const made = [] {
    const size_t bytes = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
    const size_t rounded = (bytes + RTE_CACHE_LINE_SIZE - 1) /
                           RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE;
    auto* v = static_cast<rte_rcu_qsbr*>(
        std::aligned_alloc(RTE_CACHE_LINE_SIZE, rounded));
    if (v == nullptr || rte_rcu_qsbr_init(v, RTE_MAX_LCORE) != 0) std::abort();
    g_domain.store(v, std::memory_order_release);
    return v;
  }();
  return made;
}

// Until every online worker has passed a quiescent state that began after
// this call. Workers pass one per loop pass (microseconds), so this is
// short; it sleeps between looks because the interrupt thread shares the
// cores with the workers it waits for.
void WaitForWorkers(rte_rcu_qsbr* v) {
  // Whatever the caller stored before (memif's cleared "connected" flag)
  // is visible to a worker that reports after this token (release on the
  // token, acquire on the worker's read of it).
  const uint64_t token = rte_rcu_qsbr_start(v);
  for (int looks = 0; rte_rcu_qsbr_check(v, token, false) == 0; ++looks) {
    if (looks < 64) {
      rte_pause();
    } else {
      const timespec nap = {0, 5'000};
      nanosleep(&nap, nullptr);
    }
  }
}

// EAL's memory-segment descriptors that close() leaves open: a fixed table
// read without a lock (close is called from any thread).
constexpr int kMaxProtectedFds = 64;
std::atomic<int> g_protected_fds[kMaxProtectedFds];
std::atomic<int> g_protected_count{0};

int RememberSegmentFd(const rte_memseg_list*, const rte_memseg* ms, void*) {
  const int fd = rte_memseg_get_fd_thread_unsafe(ms);
  if (fd < 0 || IsProtectedEalFd(fd)) return 0;
  const int at = g_protected_count.load(std::memory_order_relaxed);
  if (at >= kMaxProtectedFds) return 1;  // enough: stop the walk
  g_protected_fds[at].store(fd, std::memory_order_relaxed);
  g_protected_count.store(at + 1, std::memory_order_release);
  return 0;
}

using MunmapFn = int (*)(void*, size_t);
using CloseFn = int (*)(int);
// The munmap this one stands in front of (libc's, or a sanitizer's
// interceptor), found before main; the raw system call until then.
std::atomic<MunmapFn> g_next_munmap{nullptr};
std::atomic<CloseFn> g_next_close{nullptr};

__attribute__((constructor)) void FindNextMunmap() {
  g_next_munmap.store(reinterpret_cast<MunmapFn>(dlsym(RTLD_NEXT, "munmap")),
                      std::memory_order_release);
  g_next_close.store(reinterpret_cast<CloseFn>(dlsym(RTLD_NEXT, "close")),
                     std::memory_order_release);
}

}  // namespace

WorkerQuiescence::WorkerQuiescence() : id_(rte_lcore_id()) {
  if (id_ >= RTE_MAX_LCORE) {
    id_ = kNone;
    return;
  }
  rte_rcu_qsbr* v = Domain();
  rte_rcu_qsbr_thread_register(v, id_);
  rte_rcu_qsbr_thread_online(v, id_);
}

WorkerQuiescence::~WorkerQuiescence() {
  if (id_ == kNone) return;
  rte_rcu_qsbr* v = Domain();
  rte_rcu_qsbr_thread_offline(v, id_);
  rte_rcu_qsbr_thread_unregister(v, id_);
}

void WorkerQuiescence::Quiescent() const {
  if (id_ != kNone) rte_rcu_qsbr_quiescent(Domain(), id_);
}

void WorkerQuiescence::Offline() const {
  if (id_ != kNone) rte_rcu_qsbr_thread_offline(Domain(), id_);
}

void WorkerQuiescence::Online() const {
  if (id_ != kNone) rte_rcu_qsbr_thread_online(Domain(), id_);
}

void ProtectEalMemoryFds() {
  // Only the thread that opens ports calls this (serially); readers see a
  // slot only after the count covers it.
  rte_memseg_walk(RememberSegmentFd, nullptr);
}

bool IsProtectedEalFd(int fd) {
  const int n = g_protected_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    if (g_protected_fds[i].load(std::memory_order_relaxed) == fd) return true;
  }
  return false;
}

void AwaitPeerUnmapsSettled() {
  constexpr int64_t kSettleNs = 20'000'000, kMaxWaitNs = 2'000'000'000;
  const int64_t start = MonotonicNanos();
  while (MonotonicNanos() - start < kMaxWaitNs) {
    const int64_t now = MonotonicNanos();
    if (g_unmaps_in_flight.load(std::memory_order_acquire) == 0 &&
        now - g_last_unmap_end_ns.load(std::memory_order_acquire) >=
            kSettleNs) {
      return;
    }
    const timespec nap = {0, 1'000'000};
    nanosleep(&nap, nullptr);
  }
}

}  // namespace vmig::dataplane

// The interposed munmap (exported from every executable that links the data
// plane: see dataplane/CMakeLists.txt). Only the EAL interrupt thread's
// unmaps wait; everyone else's cost one load and one compare more.
extern "C" int munmap(void* addr, size_t length) {
  namespace dp = vmig::dataplane;
  rte_rcu_qsbr* v = dp::g_domain.load(std::memory_order_acquire);
  const bool guarded = v != nullptr && rte_thread_is_intr();
  if (guarded) {
    dp::g_unmaps_in_flight.fetch_add(1, std::memory_order_acq_rel);
    dp::WaitForWorkers(v);
  }
  int rc;
  if (auto next = dp::g_next_munmap.load(std::memory_order_acquire)) {
    rc = next(addr, length);
  } else {
    rc = static_cast<int>(syscall(SYS_munmap, addr, length));
  }
  if (guarded) {
    dp::g_last_unmap_end_ns.store(vmig::MonotonicNanos(),
                                  std::memory_order_release);
    dp::g_unmaps_in_flight.fetch_sub(1, std::memory_order_acq_rel);
  }
  return rc;
}

// The interposed close (exported like munmap): EAL's memory descriptors
// stay open (see ProtectEalMemoryFds).
extern "C" int close(int fd) {
  if (vmig::dataplane::IsProtectedEalFd(fd)) return 0;
  if (auto next = vmig::dataplane::g_next_close.load(std::memory_order_acquire))
    return next(fd);
  return static_cast<int>(syscall(SYS_close, fd));
}
