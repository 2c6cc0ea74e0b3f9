// vmigctl's connection to a daemon: global options and the gRPC channel.
#ifndef VMIGD_CONTROL_CLIENT_H_
#define VMIGD_CONTROL_CLIENT_H_

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

// Pulls "--flag value" pairs and bare flags out of args: a tiny option parser.
class Flags {
 public:
  explicit Flags(std::vector<std::string> args) : args_(std::move(args)) {}
  // Returns the value of --name (last one wins) and removes it.
  bool Take(const std::string& name, std::string* value);
  std::vector<std::string> TakeAll(const std::string& name);
  bool TakeBool(const std::string& name);
  bool help() const;
  // What is left: positionals, or unknown flags (an error for the caller).
  const std::vector<std::string>& rest() const { return args_; }
  // The first option left over (an argument starting with '-' that no Take
  // claimed), or "": a mistyped flag is named as such, not miscounted as a
  // positional.
  std::string UnknownOption() const;
  // For a command that takes exactly one positional: "" if that is what is
  // left, else why not ("unknown option --x" or "CMD takes one WHAT").
  std::string ExpectOne(const std::string& cmd, const std::string& what) const;
  std::string error() const { return error_; }

 private:
  std::vector<std::string> args_;
  std::string error_;
};

}  // namespace vmig::cli

#endif  // VMIGD_CONTROL_CLIENT_H_
