// Writes the seed corpora that are binary (tests/fuzz/corpus/frame and
// emu_stream): valid frames under frame_fuzzer's key, and a valid emulated
// device stream for emu_stream_fuzzer's device. Run once, output committed:
//   seed_maker tests/fuzz/corpus
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "dataplane/aead.h"
#include "dataplane/wire.h"
#include "vfio/emu/emu_device.h"

namespace {

using namespace vmig::dataplane;

void Write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> Frame(FrameType type, Protection p, uint64_t pn,
                           std::vector<uint8_t> payload) {
  std::vector<uint8_t> f(FrameBytes(payload.size(), p));
  if (!payload.empty())
    std::memcpy(f.data() + kFrameOverhead, payload.data(), payload.size());
  WireHeader h = {};
  h.type = static_cast<uint8_t>(type);
  h.protection = static_cast<uint8_t>(p);
  h.session_id = 9;
  h.stream_id = 1;
  h.packet_number = pn;
  h.session_token = p == Protection::kNone ? 0x1234 : 0;
  h.seq = pn;
  h.offset = 4096 * pn;
  Endpoint a, b;
  a.ipv4 = 0xa9fe4d01;
  b.ipv4 = 0xa9fe4d02;
  b.udp_port = 7700;
  EncodeHeaders(a, b, 49153, h, payload, f.data());
  if (p != Protection::kNone) {
    AeadKeyBytes k;
    for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(7 * i);
    AeadEngine engine;
    AeadKey key(k);
    (void)engine.Seal(key, absl::MakeSpan(f));
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  std::vector<uint8_t> data(600);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  AckPayload ack = {};
  ack.cumulative = 3;
  ack.window_end = 1 << 20;
  ack.sack_count = 1;
  ack.sacks[0] = {5, 7};
  std::vector<uint8_t> ack_bytes(AckPayloadBytes(1));
  std::memcpy(ack_bytes.data(), &ack, ack_bytes.size());
  Write(dir + "/frame/data",
        Frame(FrameType::kData, Protection::kAes256Gcm, 1, data));
  Write(dir + "/frame/ack",
        Frame(FrameType::kAck, Protection::kAes256Gcm, 2, ack_bytes));
  Write(dir + "/frame/close",
        Frame(FrameType::kClose, Protection::kAes256Gcm, 3, {}));
  Write(dir + "/frame/ack_request",
        Frame(FrameType::kAckRequest, Protection::kNone, 6, {}));
  Write(dir + "/frame/data_crc",
        Frame(FrameType::kData, Protection::kNone, 4, data));
  Write(dir + "/frame/ack_crc",
        Frame(FrameType::kAck, Protection::kNone, 5, ack_bytes));
  // A whole stream of the emu_stream harness's device (with other content).
  auto src = vmig::vfio::emu::EmuDevice::Create(
      "emu:state=64KiB,block=4KiB,flags=stop_copy|p2p|pre_copy,seed=5");
  if (!src.ok()) return 1;
  auto s = (*src)->SetState(vmig::vfio::DeviceState::kStopCopy);
  if (!s.ok() || !*s) return 1;
  std::vector<uint8_t> stream, buf(8192);
  for (;;) {
    auto r = (*s)->Read(absl::MakeSpan(buf));
    if (!r.ok() || r->outcome != vmig::vfio::ReadOutcome::kData) break;
    stream.insert(stream.end(), buf.begin(), buf.begin() + r->bytes);
  }
  Write(dir + "/emu_stream/stream", stream);
  std::printf("stream %zu bytes\n", stream.size());
  return 0;
}
