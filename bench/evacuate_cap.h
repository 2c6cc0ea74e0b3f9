// How vmig-bench evacuate judges a port's cap from its samples.
#ifndef VMIGD_BENCH_EVACUATE_CAP_H_
#define VMIGD_BENCH_EVACUATE_CAP_H_

#include <cstdint>
#include <vector>

#include "bench/evacuate_series.h"

namespace vmig::bench {

// Fills run.cap_*: `busy[k]` says every surviving session was in pre-copy
// at sample k. A cap is a ceiling: no window of a second or more in which
// all were busy may pass it (cap_over, the worst excess). And it is to be
// reached: over the sample intervals in which the source daemon's
// cap_waits grew (the cap held its senders back), the rate must come near
// it (cap_under, the shortfall). Intervals in which the senders stalled
// for another reason (on a shared 2-core host, 100-200 ms about once a
// second) are left out of the second, not the first.
void JudgeCap(RunResult& run, const std::vector<bool>& busy, uint64_t cap);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_EVACUATE_CAP_H_
