// Frame protection with AES-256-GCM, on Intel's multi-buffer crypto library
// (ipsec-mb), which picks the fastest kernels the CPU has (AES-NI and
// PCLMULQDQ with AVX2 here, VAES and AVX-512 where present), and is what
// DPDK's crypto_ipsec_mb runs too. Against OpenSSL 3.0's EVP, alternating
// in one process on this machine (60 rounds each, medians): 2.44-2.50 GB/s
// against 2.07-2.31 on 9 KB frames, 3.57-3.59 against 3.62-3.67 on 64 KB;
// the 9 KB frames of a real NIC's MTU decided it (bench: BM_AeadSeal,
// BM_OpensslGcmSeal).
//
// Key schedule (see docs/architecture.md): each session agrees two fresh
// 256-bit keys over the authenticated peer channel, one per direction
// (source to destination for data, destination to source for acks). The
// 96-bit nonce of a frame is its stream id (32 bits) and its packet number
// (64 bits, from 1, one per transmission, retransmissions included); a
// stream id appears once in a session and each direction has its own key,
// so no nonce repeats under a key. A daemon that restarts starts new
// sessions with new keys: nothing it sent before can be replayed into them.
#ifndef VMIGD_DATAPLANE_AEAD_H_
#define VMIGD_DATAPLANE_AEAD_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/types/span.h"
#include "dataplane/wire.h"

struct IMB_MGR;
struct gcm_key_data;

namespace vmig::dataplane {

inline constexpr size_t kKeyBytes = 32;
using AeadKeyBytes = std::array<uint8_t, kKeyBytes>;

// "none" or "aes-256-gcm": as configured, reported and negotiated.
const char* ProtectionName(Protection p);
std::optional<Protection> ProtectionFromName(std::string_view name);

// A key expanded for AES-256-GCM (round keys and GHASH tables): made on
// the control thread, then only read, by the one worker that runs its
// stream.
class AeadKey {
 public:
  explicit AeadKey(const AeadKeyBytes& key);
  ~AeadKey();
  AeadKey(const AeadKey&) = delete;
  AeadKey& operator=(const AeadKey&) = delete;
  const gcm_key_data& data() const { return *data_; }

 private:
  gcm_key_data* data_;  // 64-byte aligned, wiped on destruction
};

// One thread's cipher: owns an ipsec-mb manager (not shared between
// threads). Seal and Open work in place on a frame EncodeHeaders() wrote:
// the vmigd header is the associated data, the nonce comes from its
// stream_id and packet_number, the payload follows it and the tag follows
// the payload.
class AeadEngine {
 public:
  AeadEngine();
  ~AeadEngine();
  AeadEngine(const AeadEngine&) = delete;
  AeadEngine& operator=(const AeadEngine&) = delete;

  // `frame` holds the whole frame, tag included; false (nothing done) if
  // its header's payload_len does not fit it.
  bool Seal(const AeadKey& key, absl::Span<uint8_t> frame) const;
  // Checks the tag (in constant time) and decrypts the payload in place.
  // False: the frame is not authentic under `key` (or its payload_len does
  // not fit `frame`); its payload is then garbage and it must be dropped.
  bool Open(const AeadKey& key, absl::Span<uint8_t> frame) const;
  // The kernels in use, e.g. "ipsec-mb 1.3.0 avx2".
  const char* implementation() const { return name_; }

 private:
  IMB_MGR* mgr_;
  const char* name_;
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_AEAD_H_
