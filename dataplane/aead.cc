#include "dataplane/aead.h"

#include <intel-ipsec-mb.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace vmig::dataplane {
namespace {

struct Nonce {
  uint8_t bytes[12];
};

Nonce NonceOf(const WireHeader& h) {
  Nonce n;
  std::memcpy(n.bytes, &h.stream_id, 4);
  std::memcpy(n.bytes + 4, &h.packet_number, 8);
  return n;
}

const char* ArchName(IMB_ARCH arch) {
  switch (arch) {
    case IMB_ARCH_AVX512:
      return "ipsec-mb " IMB_VERSION_STR " avx512";
    case IMB_ARCH_AVX2:
      return "ipsec-mb " IMB_VERSION_STR " avx2";
    case IMB_ARCH_AVX:
      return "ipsec-mb " IMB_VERSION_STR " avx";
    case IMB_ARCH_SSE:
      return "ipsec-mb " IMB_VERSION_STR " sse";
    default:
      return "ipsec-mb " IMB_VERSION_STR " generic";
  }
}

// Key expansion happens on control threads, each with a manager of its
// own (a manager is not to be shared between threads).
IMB_MGR* ThreadManager() {
  struct Holder {
    Holder() {
      mgr = alloc_mb_mgr(0);
      IMB_ARCH arch;
      if (mgr) init_mb_mgr_auto(mgr, &arch);
    }
    ~Holder() { free_mb_mgr(mgr); }
    IMB_MGR* mgr;
  };
  thread_local Holder holder;
  return holder.mgr;
}

// Reads the vmigd header of `f` into `h`: false if `f` cannot hold the
// headers, the payload the header claims and a tag.
bool HeaderFits(absl::Span<uint8_t> f, WireHeader& h) {
  if (f.size() < kFrameOverhead) return false;
  std::memcpy(&h, f.data() + kHeaderOffset, sizeof(h));
  return f.size() - kFrameOverhead >= uint64_t{h.payload_len} + kTagBytes;
}

bool TagsEqual(const uint8_t* a, const uint8_t* b) {
  uint8_t diff = 0;
  for (size_t i = 0; i < kTagBytes; ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

}  // namespace

const char* ProtectionName(Protection p) {
  return p == Protection::kNone ? "none" : "aes-256-gcm";
}

std::optional<Protection> ProtectionFromName(std::string_view name) {
  if (name == "none") return Protection::kNone;
  if (name == "aes-256-gcm") return Protection::kAes256Gcm;
  return std::nullopt;
}

AeadKey::AeadKey(const AeadKeyBytes& key)
    : data_(static_cast<gcm_key_data*>(
          std::aligned_alloc(64, (sizeof(gcm_key_data) + 63) / 64 * 64))) {
  if (!data_) throw std::bad_alloc();
  IMB_AES256_GCM_PRE(ThreadManager(), key.data(), data_);
}

AeadKey::~AeadKey() {
  // Round keys are key material: gone with the stream.
  volatile uint8_t* p = reinterpret_cast<volatile uint8_t*>(data_);
  for (size_t i = 0; i < sizeof(gcm_key_data); ++i) p[i] = 0;
  std::free(data_);
}

AeadEngine::AeadEngine() : mgr_(alloc_mb_mgr(0)), name_("") {
  if (!mgr_) throw std::bad_alloc();
  IMB_ARCH arch = IMB_ARCH_NONE;
  init_mb_mgr_auto(mgr_, &arch);
  name_ = ArchName(arch);
}

AeadEngine::~AeadEngine() { free_mb_mgr(mgr_); }

bool AeadEngine::Seal(const AeadKey& key, absl::Span<uint8_t> f) const {
  WireHeader h;
  if (!HeaderFits(f, h)) return false;
  const Nonce n = NonceOf(h);
  uint8_t* frame = f.data();
  uint8_t* payload = frame + kFrameOverhead;
  gcm_context_data ctx;
  IMB_AES256_GCM_ENC(mgr_, &key.data(), &ctx, payload, payload, h.payload_len,
                     n.bytes, frame + kHeaderOffset, sizeof(WireHeader),
                     payload + h.payload_len, kTagBytes);
  return true;
}

bool AeadEngine::Open(const AeadKey& key, absl::Span<uint8_t> f) const {
  WireHeader h;
  if (!HeaderFits(f, h)) return false;
  const Nonce n = NonceOf(h);
  uint8_t* frame = f.data();
  uint8_t* payload = frame + kFrameOverhead;
  uint8_t tag[kTagBytes];
  gcm_context_data ctx;
  IMB_AES256_GCM_DEC(mgr_, &key.data(), &ctx, payload, payload, h.payload_len,
                     n.bytes, frame + kHeaderOffset, sizeof(WireHeader), tag,
                     kTagBytes);
  return TagsEqual(tag, payload + h.payload_len);
}

}  // namespace vmig::dataplane
