// The frame codec, including every malformed case ParseFrame must refuse.
#include "dataplane/wire.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace vmig::dataplane {
namespace {

Endpoint Src() {
  Endpoint e;
  e.mac = {2, 0, 0, 0, 0, 1};
  e.ipv4 = 0xa9fe4d01;  // 169.254.77.1
  e.udp_port = 7700;
  return e;
}
Endpoint Dst() {
  Endpoint e;
  e.mac = {2, 0, 0, 0, 0, 2};
  e.ipv4 = 0xa9fe4d02;
  e.udp_port = 7701;
  return e;
}

std::vector<uint8_t> DataFrame(const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> f(kFrameOverhead + payload.size());
  WireHeader h = {};
  h.type = static_cast<uint8_t>(FrameType::kData);
  h.flags = kFlagEndOfStream;
  h.session_id = 42;
  h.session_token = 0x1122334455667788ull;
  h.stream_id = 3;
  h.seq = 17;
  h.offset = 4096;
  h.timestamp = 99;
  std::memcpy(f.data() + kFrameOverhead, payload.data(), payload.size());
  EncodeHeaders(Src(), Dst(), 40003, h, payload, f.data());
  return f;
}

TEST(WireTest, PeekStreamIdReadsWhatParseFrameWouldAndRefusesShortFrames) {
  auto f = DataFrame(std::vector<uint8_t>(100, 7));
  EXPECT_EQ(PeekStreamId(f), std::optional<uint32_t>(3));
  // It checks nothing else: a corrupted payload still peeks (the owner's
  // full parse refuses it).
  f.back() ^= 1;
  EXPECT_EQ(PeekStreamId(f), std::optional<uint32_t>(3));
  EXPECT_EQ(PeekStreamId(absl::MakeConstSpan(f.data(), kFrameOverhead)),
            std::optional<uint32_t>(3));
  EXPECT_EQ(PeekStreamId(absl::MakeConstSpan(f.data(), kFrameOverhead - 1)),
            std::nullopt);
  EXPECT_EQ(PeekStreamId({}), std::nullopt);
}

TEST(WireTest, RoundTripsADataFrame) {
  std::vector<uint8_t> payload(1000);
  for (size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<uint8_t>(i * 31);
  auto f = DataFrame(payload);
  ParseError err;
  auto p = ParseFrame(f, 7701, &err);
  ASSERT_TRUE(p.has_value()) << ParseErrorName(err);
  EXPECT_EQ(p->header.type, static_cast<uint8_t>(FrameType::kData));
  EXPECT_EQ(p->header.flags, kFlagEndOfStream);
  EXPECT_EQ(p->header.session_id, 42u);
  EXPECT_EQ(p->header.session_token, 0x1122334455667788ull);
  EXPECT_EQ(p->header.stream_id, 3u);
  EXPECT_EQ(p->header.seq, 17u);
  EXPECT_EQ(p->header.offset, 4096u);
  EXPECT_EQ(p->header.payload_len, 1000u);
  EXPECT_EQ(std::vector<uint8_t>(p->payload.begin(), p->payload.end()),
            payload);
  EXPECT_EQ(p->src.ipv4, Src().ipv4);
  EXPECT_EQ(p->src.udp_port, 40003);
  EXPECT_EQ(p->src.mac, Src().mac);
  // Real tools can read it: IPv4 header checksum and UDP length are valid.
  EXPECT_EQ(f[12], 0x08);
  EXPECT_EQ(f[23], 17);  // UDP
}

TEST(WireTest, RoundTripsAnAckWithSacks) {
  AckPayload a = {};
  a.cumulative = 10;
  a.window_end = 1 << 20;
  a.sack_count = 2;
  a.sacks[0] = {12, 15};
  a.sacks[1] = {20, 21};
  const size_t n = AckPayloadBytes(2);
  std::vector<uint8_t> f(kFrameOverhead + n);
  std::memcpy(f.data() + kFrameOverhead, &a, n);
  WireHeader h = {};
  h.type = static_cast<uint8_t>(FrameType::kAck);
  EncodeHeaders(Src(), Dst(), 7700, h,
                absl::MakeConstSpan(f.data() + kFrameOverhead, n), f.data());
  ParseError err;
  auto p = ParseFrame(f, 0, &err);
  ASSERT_TRUE(p.has_value()) << ParseErrorName(err);
  AckPayload back;
  ASSERT_TRUE(ParseAck(p->payload, &back));
  EXPECT_EQ(back.cumulative, 10u);
  EXPECT_EQ(back.sack_count, 2u);
  EXPECT_EQ(back.sacks[1].begin, 20u);
}

struct Malformed {
  const char* what;
  std::function<void(std::vector<uint8_t>&)> mutate;
  ParseError want;
};

TEST(WireTest, RefusesEveryMalformedFrame) {
  const std::vector<Malformed> cases = {
      {"truncated below the headers",
       [](auto& f) { f.resize(kFrameOverhead - 1); }, ParseError::kTooShort},
      {"not IPv4 ethertype", [](auto& f) { f[12] = 0x86; },
       ParseError::kNotIpv4},
      {"IPv6 version nibble", [](auto& f) { f[14] = 0x65; },
       ParseError::kBadIpHeader},
      {"IP options", [](auto& f) { f[14] = 0x46; }, ParseError::kBadIpHeader},
      {"IP checksum", [](auto& f) { f[14 + 8] ^= 1; },
       ParseError::kBadIpHeader},
      {"IP total length past the frame",
       [](auto& f) { f.resize(f.size() - 10); }, ParseError::kBadIpHeader},
      {"not UDP",
       [](auto& f) {
         f[23] = 6;  // TCP; fix the IP checksum so only the protocol is wrong
         f[24] = f[25] = 0;
         uint32_t sum = 0;
         for (int i = 14; i < 34; i += 2) sum += (f[i] << 8) | f[i + 1];
         while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
         f[24] = static_cast<uint8_t>(~sum >> 8);
         f[25] = static_cast<uint8_t>(~sum);
       },
       ParseError::kNotUdp},
      {"UDP length disagrees", [](auto& f) { f[38] ^= 0x01; },
       ParseError::kBadUdp},
      {"another UDP port", [](auto& f) { f[37] ^= 0x01; },
       ParseError::kWrongPort},
      {"wire version", [](auto& f) { f[42] = 9; }, ParseError::kBadVersion},
      {"frame type", [](auto& f) { f[43] = 77; }, ParseError::kBadType},
      {"payload length field",
       [](auto& f) {
         f[kHeaderOffset + offsetof(WireHeader, payload_len)] ^= 0x04;
       },
       ParseError::kBadLength},
      {"unknown protection",
       [](auto& f) { f[kHeaderOffset + offsetof(WireHeader, protection)] = 7; },
       ParseError::kBadProtection},
      {"AEAD frame carrying a token",
       [](auto& f) { f[kHeaderOffset + offsetof(WireHeader, protection)] = 1; },
       ParseError::kBadProtection},
      {"reserved bytes set",
       [](auto& f) {
         f[kHeaderOffset + offsetof(WireHeader, reserved) + 1] = 1;
       },
       ParseError::kBadProtection},
      {"flipped payload byte", [](auto& f) { f[kFrameOverhead + 5] ^= 0x10; },
       ParseError::kBadCrc},
      {"flipped header byte (offset)",
       [](auto& f) { f[kHeaderOffset + offsetof(WireHeader, offset)] ^= 0x01; },
       ParseError::kBadCrc},
      {"flipped crc",
       [](auto& f) { f[kHeaderOffset + offsetof(WireHeader, crc)] ^= 0x01; },
       ParseError::kBadCrc},
  };
  std::vector<uint8_t> payload(300, 0xab);
  for (const auto& c : cases) {
    auto f = DataFrame(payload);
    c.mutate(f);
    ParseError err = ParseError::kTooShort;
    auto p = ParseFrame(f, 7701, &err);
    EXPECT_FALSE(p.has_value()) << c.what;
    EXPECT_EQ(err, c.want) << c.what << ": got " << ParseErrorName(err);
  }
}

TEST(WireTest, RefusesMalformedAcks) {
  AckPayload a = {};
  a.cumulative = 10;
  a.sack_count = 2;
  a.sacks[0] = {12, 15};
  a.sacks[1] = {20, 21};
  auto bytes = [](const AckPayload& x, size_t n) {
    std::vector<uint8_t> v(n);
    std::memcpy(v.data(), &x, std::min(n, sizeof(x)));
    return v;
  };
  AckPayload out;
  EXPECT_TRUE(ParseAck(bytes(a, AckPayloadBytes(2)), &out));
  EXPECT_FALSE(ParseAck(bytes(a, AckPayloadBytes(2) - 1), &out));  // short
  EXPECT_FALSE(ParseAck(bytes(a, AckPayloadBytes(3)), &out));      // long
  AckPayload b = a;
  b.sack_count = 9;
  EXPECT_FALSE(ParseAck(bytes(b, sizeof(b)), &out));  // too many blocks
  b = a;
  b.sacks[0] = {9, 15};  // starts below the cumulative ack
  EXPECT_FALSE(ParseAck(bytes(b, AckPayloadBytes(2)), &out));
  b = a;
  // Starts at the cumulative ack: the frame there is held, half written,
  // while the device pushes back; such an ack is the window update.
  b.sacks[0] = {10, 15};
  EXPECT_TRUE(ParseAck(bytes(b, AckPayloadBytes(2)), &out));
  b = a;
  b.sacks[1] = {15, 21};  // adjacent to the block before: one block
  EXPECT_FALSE(ParseAck(bytes(b, AckPayloadBytes(2)), &out));
  b = a;
  b.sacks[1] = {14, 21};  // overlaps
  EXPECT_FALSE(ParseAck(bytes(b, AckPayloadBytes(2)), &out));
  b = a;
  b.sacks[1] = {20, 20};  // empty
  EXPECT_FALSE(ParseAck(bytes(b, AckPayloadBytes(2)), &out));
  b = a;
  b.flags = 4;  // a flag this version does not know
  EXPECT_FALSE(ParseAck(bytes(b, AckPayloadBytes(2)), &out));
  b = a;
  b.flags = kAckEchoAdvanced;
  EXPECT_TRUE(ParseAck(bytes(b, AckPayloadBytes(2)), &out));
  EXPECT_EQ(out.flags, kAckEchoAdvanced);
}

}  // namespace
}  // namespace vmig::dataplane
