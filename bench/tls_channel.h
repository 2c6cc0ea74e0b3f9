// TLS 1.3 (AES-256-GCM only) over kernel TCP, for the encrypted baseline
// of `vmig-bench transport`: what QEMU's multifd with TLS does, in the same
// run. An ephemeral self-signed P-256 certificate; nothing is verified (a
// baseline measures the cipher and the copies, not the trust). With kTLS
// asked for, the kernel takes the record layer over where it offers it.
#ifndef VMIGD_BENCH_TLS_CHANNEL_H_
#define VMIGD_BENCH_TLS_CHANNEL_H_

#include <openssl/ssl.h>

#include <memory>
#include <utility>

#include "absl/status/statusor.h"

namespace vmig::bench {

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

class TlsContexts {
 public:
  static absl::StatusOr<std::unique_ptr<TlsContexts>> Create(bool ktls);
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  // Both ends of one TCP connection, handshaken: {client, server}.
  absl::StatusOr<std::pair<SslPtr, SslPtr>> Connect(int client_fd,
                                                    int server_fd);

 private:
  TlsContexts() = default;
  SSL_CTX* client_ = nullptr;
  SSL_CTX* server_ = nullptr;
};

// Whether the kernel carries this end's records (kTLS) both ways.
bool KtlsActive(SSL* ssl);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_TLS_CHANNEL_H_
