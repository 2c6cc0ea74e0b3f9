#include "cli/client.h"

#include <algorithm>
#include <iostream>

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

bool Flags::Take(const std::string& name, std::string* value) {
  bool found = false;
  for (size_t i = 0; i < args_.size();) {
    if (args_[i] == name) {
      if (i + 1 >= args_.size()) {
        error_ = name + " needs a value";
        args_.erase(args_.begin() + i);
        return false;
      }
      *value = args_[i + 1];
      args_.erase(args_.begin() + i, args_.begin() + i + 2);
      found = true;
    } else if (args_[i].rfind(name + "=", 0) == 0) {
      *value = args_[i].substr(name.size() + 1);
      args_.erase(args_.begin() + i);
      found = true;
    } else {
      ++i;
    }
  }
  return found;
}

std::vector<std::string> Flags::TakeAll(const std::string& name) {
  std::vector<std::string> out;
  // Take() keeps only the last; collect one at a time.
  for (;;) {
    auto it = std::find(args_.begin(), args_.end(), name);
    if (it == args_.end() || it + 1 == args_.end()) break;
    out.push_back(*(it + 1));
    args_.erase(it, it + 2);
  }
  return out;
}

bool Flags::TakeBool(const std::string& name) {
  auto it = std::find(args_.begin(), args_.end(), name);
  if (it == args_.end()) return false;
  args_.erase(it);
  return true;
}

std::string Flags::UnknownOption() const {
  for (const std::string& a : args_) {
    if (a.size() > 1 && a[0] == '-') return a;
  }
  return "";
}

std::string Flags::ExpectOne(const std::string& cmd,
                             const std::string& what) const {
  if (std::string u = UnknownOption(); !u.empty())
    return absl::StrCat(cmd, ": unknown option ", u);
  if (args_.size() != 1) return absl::StrCat(cmd, " takes one ", what);
  return "";
}

bool Flags::help() const {
  return std::find(args_.begin(), args_.end(), "--help") != args_.end() ||
         std::find(args_.begin(), args_.end(), "-h") != args_.end();
}

absl::StatusOr<GlobalOptions> ExtractGlobalOptions(
    std::vector<std::string>& args) {
  GlobalOptions g;
  Flags f(args);
  f.Take("--addr", &g.addr);
  f.Take("--tls-ca", &g.tls_ca);
  f.Take("--tls-cert", &g.tls_cert);
  f.Take("--tls-key", &g.tls_key);
  f.Take("--output", &g.output);
  f.Take("-o", &g.output);
  std::string timeout;
  if (f.Take("--timeout", &timeout) &&
      !absl::ParseDuration(timeout, &g.timeout)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout: bad duration '", timeout, "'"));
  }
  if (!f.error().empty()) return absl::InvalidArgumentError(f.error());
  if (g.output != "table" && g.output != "json" && g.output != "yaml") {
    return absl::InvalidArgumentError(
        absl::StrCat("--output: table, json or yaml, not '", g.output, "'"));
  }
  if (g.tls_cert.empty() != g.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  args = f.rest();
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
