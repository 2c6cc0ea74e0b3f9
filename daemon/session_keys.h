// The data-plane keys of one session, agreed over the authenticated peer
// channel: each side makes an ephemeral X25519 key pair for the session and
// sends its public half in the handshake; both derive the shared secret and,
// from it with HKDF-SHA256, one AES-256-GCM key per direction, bound to the
// session id and both public halves. No key is ever sent, in a data frame
// or on the peer channel, and a session's keys die with it (forward
// secrecy: a stolen certificate does not open a recorded migration).
// OpenSSL's EVP (Debian's libssl) does the X25519 and the HKDF.
#ifndef VMIGD_DAEMON_SESSION_KEYS_H_
#define VMIGD_DAEMON_SESSION_KEYS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dataplane/aead.h"

namespace vmig::daemon {

// This side's keys for the session's streams.
struct SessionKeys {
  dataplane::AeadKeyBytes send;     // seals what this side sends
  dataplane::AeadKeyBytes receive;  // opens what this side receives
};

class KeyShare {
 public:
  enum class Side { kSource, kDestination };

  // A fresh ephemeral key pair.
  static absl::StatusOr<KeyShare> Generate();
  KeyShare(KeyShare&&) noexcept;
  KeyShare& operator=(KeyShare&&) noexcept;
  ~KeyShare();

  // The public half, 32 bytes, for the handshake.
  const std::string& public_key() const { return public_; }

  // The keys of `side` for the session, from the peer's public half.
  // INVALID_ARGUMENT if it is not a valid X25519 public key (including the
  // low-order points, whose shared secret is all zeros).
  absl::StatusOr<SessionKeys> Derive(const std::string& peer_public,
                                     const std::string& session_id,
                                     Side side) const;

 private:
  struct Pkey;
  KeyShare() = default;
  std::unique_ptr<Pkey> key_;
  std::string public_;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SESSION_KEYS_H_
