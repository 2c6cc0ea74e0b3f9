// The data plane's wire format: Ethernet / IPv4 / UDP / vmigd header /
// payload. UDP so that real networks route it and NIC RSS spreads flows (the
// source port varies per stream); integrity comes from the vmigd header's
// CRC32C over header and payload, so the UDP checksum is left 0.
//
// Nothing here trusts the wire: ParseFrame() checks every length, field and
// the CRC before a frame is handed on.
#ifndef VMIGD_DATAPLANE_WIRE_H_
#define VMIGD_DATAPLANE_WIRE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmig::dataplane {

inline constexpr uint8_t kWireVersion = 1;
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr size_t kEthHeaderBytes = 14;
inline constexpr size_t kIpv4HeaderBytes = 20;
inline constexpr size_t kUdpHeaderBytes = 8;

enum class FrameType : uint8_t {
  kData = 1,   // stream bytes at `offset`
  kAck = 2,    // cumulative + selective ack, credit (payload: AckPayload)
  kClose = 3,  // the sender saw its stream acknowledged: the receiver may go
};

enum FrameFlags : uint16_t {
  kFlagEndOfStream = 1 << 0,  // kData: the last frame of the stream
  kFlagRetransmit = 1 << 1,   // kData: sent again (for counters only)
};

// The vmigd header, right after UDP. Little-endian on the wire.
struct WireHeader {
  uint8_t version;
  uint8_t type;
  uint16_t flags;
  uint32_t session_id;
  uint64_t session_token;
  uint32_t stream_id;
  uint32_t payload_len;
  uint64_t seq;        // per-stream frame sequence number
  uint64_t offset;     // kData: stream offset of the payload
  uint64_t timestamp;  // sender's clock (ns); an ack echoes it for RTT
  uint32_t crc;        // CRC32C of header (crc = 0) and payload
  uint32_t reserved;
};
static_assert(sizeof(WireHeader) == 56);

inline constexpr size_t kMaxSackBlocks = 8;
struct SackBlock {
  uint64_t begin;  // first seq held
  uint64_t end;    // one past the last
};

// The payload of a kAck.
struct AckPayload {
  uint64_t cumulative;  // every seq below this was written to the device
  uint64_t window_end;  // credit: the sender may send up to this offset
  uint64_t echo_timestamp;
  uint64_t delivered_bytes;
  uint32_t sack_count;
  uint32_t reserved;
  SackBlock sacks[kMaxSackBlocks];
};
static_assert(sizeof(AckPayload) == 40 + 16 * kMaxSackBlocks);

inline constexpr size_t kFrameOverhead =
    kEthHeaderBytes + kIpv4HeaderBytes + kUdpHeaderBytes + sizeof(WireHeader);

struct Endpoint {
  std::array<uint8_t, 6> mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  uint32_t ipv4 = 0;  // host order
  uint16_t udp_port = 0;
};

// Writes the Ethernet/IPv4/UDP headers and the vmigd header (its crc
// computed over it and `payload`) into `frame`, which must have room for
// kFrameOverhead bytes; the payload follows them in the caller's buffer.
void EncodeHeaders(const Endpoint& src, const Endpoint& dst, uint16_t src_port,
                   WireHeader header, absl::Span<const uint8_t> payload,
                   uint8_t* frame);

struct ParsedFrame {
  WireHeader header;
  Endpoint src;
  absl::Span<const uint8_t> payload;
};

// Why a frame was refused; each is counted separately.
enum class ParseError {
  kTooShort,
  kNotIpv4,
  kBadIpHeader,
  kNotUdp,
  kBadUdp,
  kWrongPort,
  kBadVersion,
  kBadType,
  kBadLength,
  kBadCrc,
  kBadAck,
};
const char* ParseErrorName(ParseError e);

// Parses and checks a whole frame addressed to `local_port` (0: any).
absl::StatusOr<ParsedFrame> ParseFrame(absl::Span<const uint8_t> frame,
                                       uint16_t local_port, ParseError* error);
// The stream id a frame claims, read without any check (no CRC, no field
// validation): enough to route the frame to the worker that owns the stream,
// which then parses it in full. nullopt if the frame is too short.
std::optional<uint32_t> PeekStreamId(absl::Span<const uint8_t> frame);
// Checks a kAck's payload (sizes, block order) and copies it out.
bool ParseAck(absl::Span<const uint8_t> payload, AckPayload* ack);
size_t AckPayloadBytes(uint32_t sack_count);

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_WIRE_H_
