#include "bench/tls_channel.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <thread>

#include "absl/strings/str_cat.h"

namespace vmig::bench {
namespace {

absl::Status SslError(const char* what) {
  char buf[256] = {};
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  return absl::InternalError(absl::StrCat("TLS baseline: ", what, ": ", buf));
}

// A self-signed certificate for a fresh P-256 key, valid for a day.
absl::Status UseEphemeralCertificate(SSL_CTX* ctx) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) return SslError("key");
  X509* cert = X509_new();
  absl::Status s = absl::OkStatus();
  X509_NAME* name = cert ? X509_get_subject_name(cert) : nullptr;
  if (!cert || !X509_set_version(cert, 2) ||
      !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
      !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert), 86400) ||
      !X509_set_pubkey(cert, key) ||
      !X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_ASC,
          reinterpret_cast<const unsigned char*>("vmig-bench"), -1, -1, 0) ||
      !X509_set_issuer_name(cert, name) ||
      !X509_sign(cert, key, EVP_sha256()) ||
      SSL_CTX_use_certificate(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key) != 1) {
    s = SslError("certificate");
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return s;
}

absl::StatusOr<SSL_CTX*> NewContext(bool server, bool ktls) {
  SSL_CTX* ctx =
      SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) return SslError("context");
  // TLS 1.3 with AES-256-GCM only: the cipher vmigd's data plane uses.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384") != 1) {
    SSL_CTX_free(ctx);
    return SslError("TLS 1.3 AES-256-GCM");
  }
  if (ktls) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (server) {
    if (absl::Status s = UseEphemeralCertificate(ctx); !s.ok()) {
      SSL_CTX_free(ctx);
      return s;
    }
  }
  return ctx;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsContexts>> TlsContexts::Create(bool ktls) {
  std::unique_ptr<TlsContexts> t(new TlsContexts());
  absl::StatusOr<SSL_CTX*> c = NewContext(false, ktls);
  if (!c.ok()) return c.status();
  t->client_ = *c;
  absl::StatusOr<SSL_CTX*> s = NewContext(true, ktls);
  if (!s.ok()) return s.status();
  t->server_ = *s;
  return t;
}

TlsContexts::~TlsContexts() {
  SSL_CTX_free(client_);
  SSL_CTX_free(server_);
}

absl::StatusOr<std::pair<SslPtr, SslPtr>> TlsContexts::Connect(int client_fd,
                                                               int server_fd) {
  SslPtr client(SSL_new(client_)), server(SSL_new(server_));
  if (!client || !server || SSL_set_fd(client.get(), client_fd) != 1 ||
      SSL_set_fd(server.get(), server_fd) != 1) {
    return SslError("connection");
  }
  // Both ends block: the client's handshake on a thread of its own.
  int client_rc = 0;
  std::thread t([&] { client_rc = SSL_connect(client.get()); });
  const int server_rc = SSL_accept(server.get());
  t.join();
  if (client_rc != 1 || server_rc != 1) return SslError("handshake");
  return std::make_pair(std::move(client), std::move(server));
}

bool KtlsActive(SSL* ssl) {
  return BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1 &&
         BIO_get_ktls_recv(SSL_get_rbio(ssl)) == 1;
}

}  // namespace vmig::bench
