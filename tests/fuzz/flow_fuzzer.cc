// libFuzzer: the receive flow's reassembly fed arbitrary data frames (each
// 21 bytes of input: seq, offset, length, end-of-stream) with deliveries
// in between. Checks that nothing it holds exceeds the credit window and
// that every buffer it took is handed back exactly once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>

#include "dataplane/flow.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using vmig::dataplane::FlowConfig;
  using vmig::dataplane::ReceiverFlow;
  FlowConfig config;
  config.window_bytes = 1 << 20;
  ReceiverFlow flow(config);
  std::set<uintptr_t> held;
  uintptr_t next_buf = 1;
  auto release = [&](void* b) {
    if (held.erase(reinterpret_cast<uintptr_t>(b)) != 1) std::abort();
  };
  auto deliver = [&](void*, uint64_t, uint32_t from,
                     uint32_t len) -> absl::StatusOr<uint32_t> {
    return len - from;  // the device takes everything
  };
  for (size_t i = 0; i + 21 <= size; i += 21) {
    uint64_t seq, offset;
    uint32_t len;
    std::memcpy(&seq, data + i, 8);
    std::memcpy(&offset, data + i + 8, 8);
    std::memcpy(&len, data + i + 16, 4);
    const bool eos = data[i + 20] & 1;
    const bool deliver_now = data[i + 20] & 2;
    len %= 70000;
    void* buf = reinterpret_cast<void*>(next_buf++);
    if (flow.OnData(seq % 8192, offset, len, eos, buf) ==
        ReceiverFlow::Verdict::kAccepted) {
      held.insert(reinterpret_cast<uintptr_t>(buf));
    }
    if (flow.stats().buffered_bytes > config.window_bytes + 70000) std::abort();
    if (deliver_now && !flow.DeliverInOrder(deliver, release).ok()) break;
  }
  flow.ReleaseAll(release);
  if (!held.empty()) std::abort();  // a buffer the flow kept or lost
  return 0;
}
