// The data plane's wire format: Ethernet / IPv4 / UDP / vmigd header /
// payload [/ AEAD tag]. UDP so that real networks route it and NIC RSS
// spreads flows (the source port varies per stream).
//
// A frame is protected one of two ways, named in its header:
//  - kAes256Gcm (the default): the payload is encrypted in place and a
//    16-byte tag follows it; the whole vmigd header is the associated data,
//    so every field the receiver routes or orders on is authenticated. The
//    nonce is the stream id and the header's packet_number, which never
//    repeats under a key (see dataplane/aead.h). The tag is the integrity
//    check: no CRC is computed.
//  - kNone (a trusted link, by configuration): a CRC32C over header and
//    payload, and the session token as the only credential.
// The UDP checksum is left 0 ("none", RFC 768): either check covers more.
//
// Nothing here trusts the wire: ParseFrame() checks every length and field
// (and, unprotected, the CRC) before a frame is handed on; the tag is
// checked by the stream's owner, which holds the key.
#ifndef VMIGD_DATAPLANE_WIRE_H_
#define VMIGD_DATAPLANE_WIRE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmig::dataplane {

inline constexpr uint8_t kWireVersion = 2;
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr size_t kEthHeaderBytes = 14;
inline constexpr size_t kIpv4HeaderBytes = 20;
inline constexpr size_t kUdpHeaderBytes = 8;

enum class FrameType : uint8_t {
  kData = 1,   // stream bytes at `offset`
  kAck = 2,    // cumulative + selective ack, credit (payload: AckPayload)
  kClose = 3,  // the sender saw its stream acknowledged: the receiver may go
  // The sender's retransmission timer expired: ack what you have. Sent
  // before anything is sent again, so that a receiver that was only
  // descheduled answers with the frames it got and nothing is resent.
  kAckRequest = 4,
};

enum FrameFlags : uint16_t {
  kFlagEndOfStream = 1 << 0,  // kData: the last frame of the stream
  kFlagRetransmit = 1 << 1,   // kData: sent again (for counters only)
};

// How a frame is protected (the header's `protection`).
enum class Protection : uint8_t {
  kNone = 0,       // CRC32C and session token: a trusted link only
  kAes256Gcm = 1,  // AES-256-GCM, the header as associated data
};
inline constexpr size_t kTagBytes = 16;  // after the payload, kAes256Gcm
// Bytes after the payload for each protection.
inline constexpr size_t TrailerBytes(Protection p) {
  return p == Protection::kNone ? 0 : kTagBytes;
}

// The vmigd header, right after UDP. Little-endian on the wire.
struct WireHeader {
  uint8_t version;
  uint8_t type;
  uint16_t flags;
  uint32_t session_id;
  uint32_t stream_id;
  uint32_t payload_len;    // payload bytes, the tag not counted
  uint64_t session_token;  // kNone: the session's token; otherwise 0
  uint64_t packet_number;  // per stream and direction, from 1, one per
                           // transmission (a retransmission gets a new one)
  uint64_t seq;            // per-stream frame sequence number
  uint64_t offset;         // kData: stream offset of the payload
  uint64_t timestamp;      // sender's clock (ns); an ack echoes it for RTT
  uint32_t crc;            // kNone: CRC32C of header (crc = 0) and payload
  uint8_t protection;      // Protection
  uint8_t reserved[3];
};
static_assert(sizeof(WireHeader) == 64);

inline constexpr size_t kMaxSackBlocks = 8;
struct SackBlock {
  uint64_t begin;  // first seq held
  uint64_t end;    // one past the last
};

// The payload of a kAck.
struct AckPayload {
  uint64_t cumulative;  // every seq below this was written to the device
  uint64_t window_end;  // credit: the sender may send up to this offset
  // The timestamp of a data frame received since the previous ack: with
  // kAckEchoAdvanced, of the first one that arrived at the receiver's next
  // expected sequence number (the one that filled the hole at the
  // cumulative ack: the sender tells from it whether an original or its
  // retransmission did); otherwise of the latest one.
  uint64_t echo_timestamp;
  uint64_t delivered_bytes;
  uint32_t sack_count;
  uint32_t flags;  // kAckEcho*
  SackBlock sacks[kMaxSackBlocks];
};
static_assert(sizeof(AckPayload) == 40 + 16 * kMaxSackBlocks);
inline constexpr uint32_t kAckEchoAdvanced = 1;
// The receiver read a kAckRequest since its previous ack: this ack covers
// everything that arrived before the request.
inline constexpr uint32_t kAckAnswersRequest = 2;
inline constexpr uint32_t kAckKnownFlags =
    kAckEchoAdvanced | kAckAnswersRequest;

// Headers before the payload (the tag, if any, comes after it).
inline constexpr size_t kFrameOverhead =
    kEthHeaderBytes + kIpv4HeaderBytes + kUdpHeaderBytes + sizeof(WireHeader);
inline constexpr size_t kHeaderOffset =
    kEthHeaderBytes + kIpv4HeaderBytes + kUdpHeaderBytes;

struct Endpoint {
  std::array<uint8_t, 6> mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  uint32_t ipv4 = 0;  // host order
  uint16_t udp_port = 0;
};

// Writes the Ethernet/IPv4/UDP headers and the vmigd header into `frame`,
// which must have room for kFrameOverhead bytes; the payload follows them
// in the caller's buffer, and the lengths count the trailer that
// header.protection calls for. kNone: the crc is computed over header and
// `payload`. kAes256Gcm: the payload is still plaintext; SealFrame()
// (dataplane/aead.h) encrypts it and writes the tag.
void EncodeHeaders(const Endpoint& src, const Endpoint& dst, uint16_t src_port,
                   WireHeader header, absl::Span<const uint8_t> payload,
                   uint8_t* frame);
// The whole frame's length for a payload of `payload_len` bytes.
inline size_t FrameBytes(size_t payload_len, Protection p) {
  return kFrameOverhead + payload_len + TrailerBytes(p);
}

struct ParsedFrame {
  WireHeader header;
  Endpoint src;
  absl::Span<const uint8_t> payload;
  Protection protection() const {
    return static_cast<Protection>(header.protection);
  }
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
  kBadProtection,  // an unknown protection, or a token under an AEAD
  // Found once the stream is known (the worker, which holds the key):
  kWrongProtection,  // not the protection the session agreed
  kBadTag,           // failed authentication: forged, corrupted, wrong key
  kReplayed,         // authentic, but its packet number was seen already
  kTooOld,           // authentic, but below the replay window
};
inline constexpr size_t kNumParseErrors =
    static_cast<size_t>(ParseError::kTooOld) + 1;
const char* ParseErrorName(ParseError e);

// Parses and checks a whole frame addressed to `local_port` (0: any); a
// frame that fails says why in `*error` (nothing is allocated: a worker
// drops frames at line rate). An AEAD frame's payload is ciphertext: its
// tag and (for an ack) its payload are checked by OpenFrame() and
// ParseAck() once decrypted.
std::optional<ParsedFrame> ParseFrame(absl::Span<const uint8_t> frame,
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
