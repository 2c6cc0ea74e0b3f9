#include "daemon/session_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace vmig::daemon {

struct KeyShare::Pkey {
  ~Pkey() { EVP_PKEY_free(key); }
  EVP_PKEY* key = nullptr;
};

namespace {

constexpr size_t kX25519Bytes = 32;

struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, CtxFree>;

absl::Status Hkdf(const std::vector<uint8_t>& secret, const std::string& info,
                  dataplane::AeadKeyBytes& out) {
  CtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  static constexpr char kSalt[] = "vmigd data plane v1";
  size_t len = out.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(),
                                  reinterpret_cast<const uint8_t*>(kSalt),
                                  sizeof(kSalt) - 1) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), secret.data(),
                                 static_cast<int>(secret.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(),
                                  reinterpret_cast<const uint8_t*>(info.data()),
                                  static_cast<int>(info.size())) <= 0 ||
      EVP_PKEY_derive(ctx.get(), out.data(), &len) <= 0 || len != out.size()) {
    return absl::InternalError("HKDF-SHA256 failed");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KeyShare> KeyShare::Generate() {
  KeyShare k;
  k.key_ = std::make_unique<Pkey>();
  CtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
      EVP_PKEY_keygen(ctx.get(), &k.key_->key) <= 0) {
    return absl::InternalError("X25519 key generation failed");
  }
  k.public_.resize(kX25519Bytes);
  size_t len = kX25519Bytes;
  if (EVP_PKEY_get_raw_public_key(k.key_->key,
                                  reinterpret_cast<uint8_t*>(k.public_.data()),
                                  &len) <= 0 ||
      len != kX25519Bytes) {
    return absl::InternalError("X25519 public key not readable");
  }
  return k;
}

KeyShare::KeyShare(KeyShare&&) noexcept = default;
KeyShare& KeyShare::operator=(KeyShare&&) noexcept = default;
KeyShare::~KeyShare() = default;

absl::StatusOr<SessionKeys> KeyShare::Derive(const std::string& peer_public,
                                             const std::string& session_id,
                                             Side side) const {
  if (peer_public.size() != kX25519Bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the peer's key share has ", peer_public.size(),
                     " bytes, not ", kX25519Bytes));
  }
  EVP_PKEY* peer = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_X25519, nullptr,
      reinterpret_cast<const uint8_t*>(peer_public.data()), kX25519Bytes);
  if (!peer)
    return absl::InvalidArgumentError("the peer's key share is invalid");
  CtxPtr ctx(EVP_PKEY_CTX_new(key_->key, nullptr));
  std::vector<uint8_t> secret(kX25519Bytes);
  size_t len = secret.size();
  const bool ok = ctx && EVP_PKEY_derive_init(ctx.get()) > 0 &&
                  EVP_PKEY_derive_set_peer(ctx.get(), peer) > 0 &&
                  EVP_PKEY_derive(ctx.get(), secret.data(), &len) > 0 &&
                  len == kX25519Bytes;
  EVP_PKEY_free(peer);
  // OpenSSL refuses an all-zero shared secret (a low-order peer point).
  if (!ok) {
    OPENSSL_cleanse(secret.data(), secret.size());
    return absl::InvalidArgumentError(
        "the peer's key share gives no shared secret (a low-order point?)");
  }
  const std::string& source_public =
      side == KeyShare::Side::kSource ? public_ : peer_public;
  const std::string& destination_public =
      side == KeyShare::Side::kSource ? peer_public : public_;
  const std::string bound = absl::StrCat(session_id.size(), ":", session_id,
                                         source_public, destination_public);
  SessionKeys keys;
  dataplane::AeadKeyBytes s2d, d2s;
  absl::Status st =
      Hkdf(secret, absl::StrCat("source->destination|", bound), s2d);
  if (st.ok())
    st = Hkdf(secret, absl::StrCat("destination->source|", bound), d2s);
  OPENSSL_cleanse(secret.data(), secret.size());
  if (!st.ok()) return st;
  keys.send = side == KeyShare::Side::kSource ? s2d : d2s;
  keys.receive = side == KeyShare::Side::kSource ? d2s : s2d;
  OPENSSL_cleanse(s2d.data(), s2d.size());
  OPENSSL_cleanse(d2s.data(), d2s.size());
  return keys;
}

}  // namespace vmig::daemon
