// libFuzzer: the receive flow's reassembly fed arbitrary data frames (each
// 21 bytes of input: seq, offset, length, end-of-stream) with deliveries
// in between, to a device that may push back (takes only so many bytes a
// delivery). Checks that nothing it holds exceeds the credit window, that
// every buffer it took is handed back exactly once, and that every ack it
// makes is one the sender's ParseAck takes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>

#include "dataplane/flow.h"
#include "dataplane/wire.h"

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
  uint32_t budget = 0;  // what the device takes in this delivery
  auto deliver = [&](void*, uint64_t, uint32_t from,
                     uint32_t len) -> absl::StatusOr<uint32_t> {
    const uint32_t n = std::min(budget, len - from);
    budget -= n;
    return n;
  };
  auto ack_parses = [&] {
    const vmig::dataplane::AckPayload a = flow.MakeAck(1);
    uint8_t wire[sizeof(a)];
    const size_t n = vmig::dataplane::AckPayloadBytes(a.sack_count);
    std::memcpy(wire, &a, n);
    vmig::dataplane::AckPayload back;
    return vmig::dataplane::ParseAck(absl::MakeConstSpan(wire, n), &back);
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
    // The top six bits: 0, the device takes everything; else it takes
    // that many KiB less a byte, and pushes back on the rest.
    const uint32_t takes = data[i + 20] >> 2;
    budget = takes == 0 ? UINT32_MAX : takes * 1024 - 1;
    if (deliver_now && !flow.DeliverInOrder(deliver, release).ok()) break;
    if (!ack_parses()) std::abort();  // the sender would refuse this ack
  }
  flow.ReleaseAll(release);
  if (!held.empty()) std::abort();  // a buffer the flow kept or lost
  return 0;
}
