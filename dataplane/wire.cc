#include "dataplane/wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "dataplane/crc32c.h"

namespace vmig::dataplane {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the vmigd header is little-endian and copied as is");

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}
uint16_t Get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t Get32(const uint8_t* p) {
  return uint32_t{Get16(p)} << 16 | Get16(p + 2);
}

uint16_t IpChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += Get16(p + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint32_t HeaderCrc(WireHeader h, absl::Span<const uint8_t> payload) {
  h.crc = 0;
  uint32_t crc = Crc32c(reinterpret_cast<const uint8_t*>(&h), sizeof(h));
  return Crc32c(payload.data(), payload.size(), crc);
}

}  // namespace

const char* ParseErrorName(ParseError e) {
  switch (e) {
    case ParseError::kTooShort:
      return "too_short";
    case ParseError::kNotIpv4:
      return "not_ipv4";
    case ParseError::kBadIpHeader:
      return "bad_ip_header";
    case ParseError::kNotUdp:
      return "not_udp";
    case ParseError::kBadUdp:
      return "bad_udp";
    case ParseError::kWrongPort:
      return "wrong_port";
    case ParseError::kBadVersion:
      return "bad_version";
    case ParseError::kBadType:
      return "bad_type";
    case ParseError::kBadLength:
      return "bad_length";
    case ParseError::kBadCrc:
      return "bad_crc";
    case ParseError::kBadAck:
      return "bad_ack";
    case ParseError::kBadProtection:
      return "bad_protection";
    case ParseError::kWrongProtection:
      return "wrong_protection";
    case ParseError::kBadTag:
      return "bad_tag";
    case ParseError::kReplayed:
      return "replayed";
    case ParseError::kTooOld:
      return "too_old";
  }
  return "unknown";
}

void EncodeHeaders(const Endpoint& src, const Endpoint& dst, uint16_t src_port,
                   WireHeader header, absl::Span<const uint8_t> payload,
                   uint8_t* frame) {
  uint8_t* eth = frame;
  std::memcpy(eth, dst.mac.data(), 6);
  std::memcpy(eth + 6, src.mac.data(), 6);
  Put16(eth + 12, kEtherTypeIpv4);

  const Protection protection = static_cast<Protection>(header.protection);
  const size_t udp_len = kUdpHeaderBytes + sizeof(WireHeader) + payload.size() +
                         TrailerBytes(protection);
  uint8_t* ip = frame + kEthHeaderBytes;
  ip[0] = 0x45;  // version 4, 5 words
  ip[1] = 0;
  Put16(ip + 2, static_cast<uint16_t>(kIpv4HeaderBytes + udp_len));
  Put16(ip + 4, 0);       // id
  Put16(ip + 6, 0x4000);  // don't fragment
  ip[8] = 64;             // ttl
  ip[9] = 17;             // UDP
  Put16(ip + 10, 0);
  Put32(ip + 12, src.ipv4);
  Put32(ip + 16, dst.ipv4);
  Put16(ip + 10, IpChecksum(ip, kIpv4HeaderBytes));

  uint8_t* udp = ip + kIpv4HeaderBytes;
  Put16(udp, src_port);
  Put16(udp + 2, dst.udp_port);
  Put16(udp + 4, static_cast<uint16_t>(udp_len));
  Put16(udp + 6, 0);  // no UDP checksum: the tag (or CRC32C) covers more

  header.version = kWireVersion;
  header.payload_len = static_cast<uint32_t>(payload.size());
  std::memset(header.reserved, 0, sizeof(header.reserved));
  header.crc = 0;
  if (protection == Protection::kNone) header.crc = HeaderCrc(header, payload);
  std::memcpy(udp + kUdpHeaderBytes, &header, sizeof(header));
}

std::optional<uint32_t> PeekStreamId(absl::Span<const uint8_t> f) {
  if (f.size() < kFrameOverhead) return std::nullopt;
  uint32_t id;
  std::memcpy(&id, f.data() + kHeaderOffset + offsetof(WireHeader, stream_id),
              sizeof(id));
  return id;
}

std::optional<ParsedFrame> ParseFrame(absl::Span<const uint8_t> f,
                                      uint16_t local_port, ParseError* error) {
  auto fail = [&](ParseError e) -> std::optional<ParsedFrame> {
    *error = e;
    return std::nullopt;
  };
  if (f.size() < kFrameOverhead) return fail(ParseError::kTooShort);
  if (Get16(f.data() + 12) != kEtherTypeIpv4) return fail(ParseError::kNotIpv4);
  const uint8_t* ip = f.data() + kEthHeaderBytes;
  if (ip[0] != 0x45) return fail(ParseError::kBadIpHeader);
  const size_t ip_len = Get16(ip + 2);
  if (ip_len < kIpv4HeaderBytes + kUdpHeaderBytes + sizeof(WireHeader) ||
      ip_len > f.size() - kEthHeaderBytes ||
      IpChecksum(ip, kIpv4HeaderBytes) != 0) {
    return fail(ParseError::kBadIpHeader);
  }
  if (ip[9] != 17) return fail(ParseError::kNotUdp);
  const uint8_t* udp = ip + kIpv4HeaderBytes;
  const size_t udp_len = Get16(udp + 4);
  if (udp_len != ip_len - kIpv4HeaderBytes) return fail(ParseError::kBadUdp);
  if (local_port != 0 && Get16(udp + 2) != local_port)
    return fail(ParseError::kWrongPort);

  ParsedFrame out;
  std::memcpy(&out.header, udp + kUdpHeaderBytes, sizeof(WireHeader));
  const WireHeader& h = out.header;
  if (h.version != kWireVersion) return fail(ParseError::kBadVersion);
  if (h.type < static_cast<uint8_t>(FrameType::kData) ||
      h.type > static_cast<uint8_t>(FrameType::kAckRequest)) {
    return fail(ParseError::kBadType);
  }
  const Protection protection = out.protection();
  if ((protection != Protection::kNone &&
       protection != Protection::kAes256Gcm) ||
      (protection != Protection::kNone && (h.session_token || h.crc)) ||
      h.reserved[0] || h.reserved[1] || h.reserved[2]) {
    return fail(ParseError::kBadProtection);
  }
  const size_t room = udp_len - kUdpHeaderBytes - sizeof(WireHeader);
  if (room < TrailerBytes(protection) ||
      h.payload_len != room - TrailerBytes(protection)) {
    return fail(ParseError::kBadLength);
  }
  out.payload = f.subspan(kFrameOverhead, h.payload_len);
  if (protection != Protection::kNone) {
    // Ciphertext: the owner opens it, then checks an ack's payload.
    if ((h.type == static_cast<uint8_t>(FrameType::kClose) ||
         h.type == static_cast<uint8_t>(FrameType::kAckRequest)) &&
        h.payload_len)
      return fail(ParseError::kBadLength);
  } else if (HeaderCrc(h, out.payload) != h.crc) {
    return fail(ParseError::kBadCrc);
  } else if (h.type == static_cast<uint8_t>(FrameType::kAck)) {
    AckPayload ack;
    if (!ParseAck(out.payload, &ack)) return fail(ParseError::kBadAck);
  } else if ((h.type == static_cast<uint8_t>(FrameType::kClose) ||
              h.type == static_cast<uint8_t>(FrameType::kAckRequest)) &&
             h.payload_len != 0) {
    return fail(ParseError::kBadLength);
  }
  out.src.ipv4 = Get32(ip + 12);
  out.src.udp_port = Get16(udp);
  std::memcpy(out.src.mac.data(), f.data() + 6, 6);
  return out;
}

size_t AckPayloadBytes(uint32_t sack_count) {
  return offsetof(AckPayload, sacks) + sack_count * sizeof(SackBlock);
}

bool ParseAck(absl::Span<const uint8_t> payload, AckPayload* ack) {
  if (payload.size() < offsetof(AckPayload, sacks)) return false;
  std::memcpy(ack, payload.data(), offsetof(AckPayload, sacks));
  if (ack->sack_count > kMaxSackBlocks || (ack->flags & ~kAckKnownFlags) != 0 ||
      payload.size() != AckPayloadBytes(ack->sack_count)) {
    return false;
  }
  std::memcpy(ack->sacks, payload.data() + offsetof(AckPayload, sacks),
              ack->sack_count * sizeof(SackBlock));
  // Blocks are non-empty, ascending, with a gap between two (adjacent ones
  // would be one block). The first may begin at the cumulative ack itself:
  // a receiver whose device pushes back holds the frame it waits for (half
  // written) and says so, and that ack carries the window update.
  for (uint32_t i = 0; i < ack->sack_count; ++i) {
    const uint64_t floor = i == 0 ? ack->cumulative : ack->sacks[i - 1].end + 1;
    if (ack->sacks[i].begin < floor ||
        ack->sacks[i].end <= ack->sacks[i].begin) {
      return false;
    }
  }
  return true;
}

}  // namespace vmig::dataplane
