// vmigctl's connection to a daemon: global options and the gRPC channel.
#ifndef VMIGD_CONTROL_CLI_CLIENT_H_
#define VMIGD_CONTROL_CLI_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace vmig::cli {

struct GlobalOptions {
  std::string addr = "unix:///run/vmigd/vmigd.sock";
  std::string tls_ca, tls_cert, tls_key;  // TLS when tls_ca is set
  std::string output = "table";           // table | json | yaml
  absl::Duration timeout = absl::Seconds(30);
};

inline constexpr char kGlobalOptionsHelp[] =
    "Global options:\n"
    "  --addr ADDR          daemon address (default "
    "unix:///run/vmigd/vmigd.sock;\n"
    "                       or host:port, with TLS options)\n"
    "  --tls-ca FILE        CA to verify the daemon (enables TLS)\n"
    "  --tls-cert FILE      client certificate for mutual TLS\n"
    "  --tls-key FILE       client key for mutual TLS\n"
    "  -o, --output FORMAT  table (default), json or yaml\n"
    "  --timeout DURATION   deadline of each call (default 30s)\n";

// Removes the global options from `args` (wherever they are).
absl::StatusOr<GlobalOptions> ExtractGlobalOptions(
    std::vector<std::string>& args);

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const GlobalOptions& g);
// MakeChannel for a command: on failure prints "vmigctl: why" to stderr and
// returns nullptr (the command then exits 2).
std::shared_ptr<grpc::Channel> ChannelOrReport(const GlobalOptions& g);
void SetDeadline(grpc::ClientContext& ctx, const GlobalOptions& g);
// Prints "vmigctl: WHAT: CODE: message" to stderr; returns 1. A call that
// could not reach the daemon (no socket, refused, no permission, a TLS
// handshake that failed, an unresolvable host, no answer) is explained in a
// sentence naming the address and what to check, the raw status after it.
int RpcFailed(const grpc::Status& s, const std::string& what);
// That sentence, or "" for an error the daemon itself answered.
std::string ExplainConnectionError(const grpc::Status& s,
                                   const std::string& addr, bool tls,
                                   bool client_cert);

}  // namespace vmig::cli

#endif  // VMIGD_CONTROL_CLI_CLIENT_H_
