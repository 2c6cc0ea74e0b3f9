#include "control/cli/client.h"

#include <algorithm>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace vmig::cli {
namespace {

// Where the last channel MakeChannel built goes (vmigctl makes one per
// run): what RpcFailed names when the call could not reach it.
struct ConnectedTo {
  std::string addr;
  bool tls = false, client_cert = false;
} g_connected_to;

}  // namespace

absl::StatusOr<GlobalOptions> ExtractGlobalOptions(
    std::vector<std::string>& args) {
  GlobalOptions g;
  std::string timeout;
  // CLI11 takes the global options wherever they stand and leaves the rest,
  // in order, for the command (whose own parser names what is unknown).
  CLI::App app{"vmigctl", "vmigctl"};
  app.set_help_flag();  // --help is the command's (or main's)
  app.allow_extras();
  app.add_option("--addr", g.addr);
  app.add_option("--tls-ca", g.tls_ca);
  app.add_option("--tls-cert", g.tls_cert);
  app.add_option("--tls-key", g.tls_key);
  app.add_option("-o,--output", g.output);
  app.add_option("--timeout", timeout);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (!timeout.empty() && !absl::ParseDuration(timeout, &g.timeout)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout: bad duration '", timeout, "'"));
  }
  if (g.output != "table" && g.output != "json" && g.output != "yaml") {
    return absl::InvalidArgumentError(
        absl::StrCat("--output: table, json or yaml, not '", g.output, "'"));
  }
  if (g.tls_cert.empty() != g.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  args = app.remaining();
  return g;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const GlobalOptions& g) {
  std::shared_ptr<grpc::ChannelCredentials> creds =
      grpc::InsecureChannelCredentials();
  if (!g.tls_ca.empty()) {
    grpc::SslCredentialsOptions opts;
    auto ca = ReadFile(g.tls_ca);
    if (!ca.ok()) return ca.status();
    opts.pem_root_certs = *ca;
    if (!g.tls_cert.empty()) {
      auto cert = ReadFile(g.tls_cert);
      auto key = ReadFile(g.tls_key);
      if (!cert.ok()) return cert.status();
      if (!key.ok()) return key.status();
      opts.pem_cert_chain = *cert;
      opts.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(opts);
  }
  g_connected_to = {g.addr, !g.tls_ca.empty(), !g.tls_cert.empty()};
  return grpc::CreateChannel(g.addr, creds);
}

std::shared_ptr<grpc::Channel> ChannelOrReport(const GlobalOptions& g) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(g);
  if (channel.ok()) return *std::move(channel);
  std::cerr << "vmigctl: " << channel.status().message() << "\n";
  return nullptr;
}

void SetDeadline(grpc::ClientContext& ctx, const GlobalOptions& g) {
  ctx.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(g.timeout)));
}

std::string ExplainConnectionError(const grpc::Status& s,
                                   const std::string& addr, bool tls,
                                   bool client_cert) {
  const std::string& m = s.error_message();
  auto has = [&](const char* x) { return m.find(x) != std::string::npos; };
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    if (has("No such file or directory")) {
      return absl::StrCat("no daemon socket at ", addr,
                          ": is vmigd running (systemctl status vmigd), and "
                          "is --addr its listen.unix_socket?");
    }
    if (has("Connection refused")) {
      return absl::StrCat("nothing is listening at ", addr,
                          ": is vmigd running, and is --addr its address?");
    }
    if (has("Permission denied")) {
      return absl::StrCat("no permission to connect to ", addr,
                          ": the socket is open to root and its group (see "
                          "listen.unix_socket_mode); run as one of them");
    }
    if (has("andshake") || has("SSL") || has("CERTIFICATE") || has("TLS")) {
      if (!tls) {
        return absl::StrCat("the TLS handshake with ", addr,
                            " failed: the daemon speaks TLS; pass --tls-ca "
                            "(and --tls-cert/--tls-key if it asks for a "
                            "client certificate)");
      }
      return absl::StrCat(
          "the TLS handshake with ", addr,
          " failed: the daemon's certificate is not signed by --tls-ca or "
          "does not name this address",
          client_cert ? ", or it does not trust --tls-cert"
                      : ", or it wants a client certificate (--tls-cert and "
                        "--tls-key)");
    }
    if (has("DNS") || has("resolution")) {
      return absl::StrCat("cannot resolve the host of ", addr);
    }
    if (has("failed to connect")) {
      return absl::StrCat("cannot connect to ", addr,
                          ": is vmigd running there?");
    }
  }
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      (has("connect") || m == "Deadline Exceeded")) {
    return absl::StrCat(addr,
                        " did not answer within --timeout: the daemon is "
                        "busy or hung, or the address is unreachable");
  }
  return "";
}

int RpcFailed(const grpc::Status& s, const std::string& what) {
  const std::string code =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code()));
  const std::string sentence = ExplainConnectionError(
      s, g_connected_to.addr, g_connected_to.tls, g_connected_to.client_cert);
  if (sentence.empty()) {
    std::cerr << "vmigctl: " << what << ": " << code << ": "
              << s.error_message() << "\n";
  } else {
    // The sentence for a person, the raw status for a bug report.
    std::cerr << "vmigctl: " << what << ": " << sentence << "\n"
              << "  (gRPC " << code << ": " << s.error_message() << ")\n";
  }
  return 1;
}

}  // namespace vmig::cli
