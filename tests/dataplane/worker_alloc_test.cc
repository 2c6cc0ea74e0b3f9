// The data plane's worker lcores never allocate in steady state: counted by
// an allocator interposed in this test binary (glibc's own, behind a count
// per thread), on the threads DPDK runs its workers on, over the middle of
// a real in-process migration (frames sealed, sent over a ring port,
// opened, acked, written into the destination device). Setting a stream up
// or tearing it down may allocate; a frame may not.
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/daemon/engine_fixture.h"

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t n, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t align, size_t size);
}

namespace {

// Per thread: its kernel id and how many allocations it made. Fixed, so
// that counting never allocates itself.
struct ThreadCount {
  std::atomic<pid_t> tid{0};
  std::atomic<uint64_t> allocations{0};
};
constexpr int kMaxThreads = 1024;
ThreadCount g_threads[kMaxThreads];
std::atomic<int> g_next_thread{0};
thread_local int t_slot = -1;

void CountAllocation() {
  if (t_slot < 0) {
    const int i = g_next_thread.fetch_add(1, std::memory_order_relaxed);
    t_slot = i < kMaxThreads ? i : kMaxThreads - 1;
    g_threads[t_slot].tid.store(static_cast<pid_t>(syscall(SYS_gettid)),
                                std::memory_order_relaxed);
  }
  g_threads[t_slot].allocations.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

extern "C" {
void* malloc(size_t size) {
  CountAllocation();
  return __libc_malloc(size);
}
void* calloc(size_t n, size_t size) {
  CountAllocation();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t size) {
  CountAllocation();
  return __libc_realloc(p, size);
}
void* memalign(size_t align, size_t size) {
  CountAllocation();
  return __libc_memalign(align, size);
}
void* aligned_alloc(size_t align, size_t size) {
  CountAllocation();
  return __libc_memalign(align, size);
}
int posix_memalign(void** out, size_t align, size_t size) {
  CountAllocation();
  *out = __libc_memalign(align, size);
  return *out ? 0 : ENOMEM;
}
}

namespace vmig::daemon::testing {
namespace {

// DPDK 22.11 names the threads it runs its worker lcores on "rte-worker-N".
bool IsWorkerThread(pid_t tid) {
  std::ifstream comm("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  return std::getline(comm, name) && absl::StartsWith(name, "rte-worker-");
}

// Allocations so far on the worker lcores' threads (one that never
// allocated has no count), and how many such threads run.
uint64_t WorkerAllocations(int* workers) {
  *workers = 0;
  uint64_t n = 0;
  const int used = std::min(g_next_thread.load(), kMaxThreads);
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task")) {
    const pid_t tid = static_cast<pid_t>(std::stol(task.path().filename()));
    if (!IsWorkerThread(tid)) continue;
    ++*workers;
    for (int i = 0; i < used; ++i) {
      if (g_threads[i].tid.load() == tid) n += g_threads[i].allocations.load();
    }
  }
  return n;
}

std::string ThreadNames() {
  std::string out;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    out += name + " ";
  }
  return out;
}

class WorkerAllocationTest : public EngineRig {};

TEST_F(WorkerAllocationTest, AWorkerLcoreAllocatesNothingPerFrame) {
  // Enough state that the middle of the transfer is thousands of frames,
  // a device that pushes back (partial writes, window updates) and one
  // that streams in pre-copy, both sealed with AES-256-GCM.
  AddDevices({"emu:state=96MiB,flags=stop_copy|p2p|pre_copy,read_bw=256MiB/s,"
              "seed=1",
              "emu:state=48MiB,flags=stop_copy|p2p,seed=2"},
             {"emu:state=96MiB,flags=stop_copy|p2p|pre_copy,seed=3",
              "emu:state=48MiB,flags=stop_copy|p2p,write_bw=192MiB/s,seed=4"});
  uint64_t at_start = 0, at_end = 0;
  int workers = 0;
  bool started = false, ended = false;
  const uint64_t total = (96ull + 48) << 20;
  v1::Session s = Migrate(Request(10'000), [&](SessionRecord& rec) {
    // From a quarter of the bytes to three quarters: every stream is set
    // up by then, and none torn down.
    for (int i = 0; i < 60'000 && !ended; ++i) {
      const v1::Session now = rec.Snapshot();
      const uint64_t moved = now.progress().transferred_bytes();
      if (!started && moved >= total / 4) {
        at_start = WorkerAllocations(&workers);
        started = true;
      } else if (started && moved >= 3 * total / 4) {
        at_end = WorkerAllocations(&workers);
        ended = true;
      }
      if (now.phase() == v1::PHASE_COMPLETED || now.phase() == v1::PHASE_FAILED)
        break;
      absl::SleepFor(absl::Milliseconds(1));
    }
  });
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  ASSERT_TRUE(started && ended) << "the transfer's middle was not seen";
  ASSERT_EQ(workers, 2) << "the two worker lcores' threads were not found "
                           "among: "
                        << ThreadNames();
  EXPECT_EQ(at_end - at_start, 0u)
      << "allocations on the worker lcores in the middle of the transfer";
  EXPECT_EQ(Digest("s0"), Digest("d0"));
  EXPECT_EQ(Digest("s1"), Digest("d1"));
}

}  // namespace
}  // namespace vmig::daemon::testing
