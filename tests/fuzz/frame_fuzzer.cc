// libFuzzer: data, ack and close frames as a receiving worker checks them —
// ParseFrame, the replay window, the AEAD tag (a fixed test key), then an
// ack's payload. Seeds (corpus/frame/) are valid encrypted frames of each
// type, so that mutations reach past the length checks; none may be
// accepted unless it is byte for byte a valid frame.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dataplane/aead.h"
#include "dataplane/replay_window.h"
#include "dataplane/wire.h"

namespace {

const vmig::dataplane::AeadKeyBytes& Key() {
  static const vmig::dataplane::AeadKeyBytes k = [] {
    vmig::dataplane::AeadKeyBytes b;
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(7 * i);
    return b;
  }();
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmig::dataplane;
  static AeadEngine engine;
  static AeadKey key(Key());
  std::vector<uint8_t> frame(data, data + size);
  ParseError err;
  std::optional<ParsedFrame> f = ParseFrame(frame, 0, &err);
  if (!f) return 0;
  AckPayload ack;
  if (f->protection() == Protection::kNone) {
    if (f->header.type == static_cast<uint8_t>(FrameType::kAck))
      (void)ParseAck(f->payload, &ack);
    return 0;
  }
  ReplayWindow window;
  if (window.Check(f->header.packet_number) != ReplayWindow::Verdict::kFresh)
    return 0;
  if (!engine.Open(key, absl::MakeSpan(frame))) return 0;
  window.Accept(f->header.packet_number);
  if (f->header.type == static_cast<uint8_t>(FrameType::kAck))
    (void)ParseAck(f->payload, &ack);
  return 0;
}
