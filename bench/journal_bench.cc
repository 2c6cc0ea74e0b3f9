// The journal's sync policy, priced: a session record appended as the
// journal does for a phase change (plain: written, not synced) and for a
// commit mark (durable: fdatasync before it returns), in a journal under
// /var/tmp (a disk, as /var/lib/vmigd is). A commit mark is on the
// downtime path twice (the source's before its Commit call, the
// destination's before a device runs): its time here is what the policy
// adds to a migration's downtime.
//
//   build/bench/vmig_micro_bench --benchmark_filter=Journal
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "daemon/journal.h"

namespace vmig::daemon {
namespace {

void BM_JournalSessionRecord(benchmark::State& state) {
  const bool durable = state.range(0) != 0;
  char tmpl[] = "/var/tmp/vmig-journal-bench-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr) {
    state.SkipWithError("cannot make a directory under /var/tmp");
    return;
  }
  {
    auto j = Journal::Open(dir);
    if (!j.ok()) {
      state.SkipWithError(std::string(j.status().message()).c_str());
      return;
    }
    v1::JournalSession s;
    s.set_id("bench");
    s.set_role(v1::ROLE_SOURCE);
    s.set_phase(v1::PHASE_STOPCOPY);
    s.set_commit(durable ? v1::JournalSession::COMMIT_BEGUN
                         : v1::JournalSession::COMMIT_UNSPECIFIED);
    s.add_devices("nic0");
    s.add_devices("nic1");
    for (auto _ : state) {
      if (!(*j)->SessionChanged(s, durable).ok()) {
        state.SkipWithError("journal write failed");
        break;
      }
    }
    state.SetItemsProcessed(state.iterations());  // records per second
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
BENCHMARK(BM_JournalSessionRecord)
    ->ArgName("durable")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace vmig::daemon
