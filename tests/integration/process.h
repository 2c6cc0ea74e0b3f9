// Test helpers that run the real binaries: a vmigd process with its own
// config and socket, and one-shot commands with captured output.
#ifndef VMIGD_TESTS_INTEGRATION_PROCESS_H_
#define VMIGD_TESTS_INTEGRATION_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"

namespace vmig::testing {

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs argv to completion (stdin closed), capturing stdout and stderr.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {});

// Where the build put a binary: VMIG_BUILD_DIR/<rel>.
std::string BinaryPath(const std::string& rel);

class Daemon {
 public:
  // Writes `config` to dir/<name>.conf and starts vmigd on it. The config
  // should set listen.unix_socket; UnixAddress() is derived from it.
  // `prefix` runs vmigd under another command that execs it (e.g. "ip
  // netns exec NS"), so that its pid stays the daemon's.
  Daemon(const TempDir& dir, const std::string& name, const std::string& config,
         const std::map<std::string, std::string>& env = {},
         const std::vector<std::string>& prefix = {});
  ~Daemon();

  // Waits until the Unix socket answers (false after `timeout_s`).
  bool WaitReady(double timeout_s = 20);
  std::string socket() const { return socket_; }
  std::string address() const { return "unix://" + socket_; }
  std::shared_ptr<grpc::Channel> Channel() const;
  // SIGTERM and wait; returns the exit code, -1 if it had to be killed.
  int Stop(double timeout_s = 10, double* seconds = nullptr);
  bool Running();
  // SIGKILL, as a crash would.
  void Kill();
  pid_t pid() const { return pid_; }
  std::string log() const;

 private:
  std::string socket_, log_path_;
  pid_t pid_ = -1;
};

// Writes into `dir` a test CA (ca.pem, ca.key), a server certificate for
// 127.0.0.1 and localhost (server.pem, server.key), a client certificate
// the CA signed (client.pem, client.key, CN=operator) and a self-signed
// impostor (rogue.pem, rogue.key); and peer daemons' certificates
// vmigd-{a,b,c}.pem/.key (the test CA's; SAN DNS:vmigd-N and IP:127.0.0.1)
// and vmigd-x.pem/.key from another CA (other-ca.pem), with openssl. The
// result of the script.
CommandResult MakeTestCertificates(const TempDir& dir);

// A TCP port nobody listens on right now.
int FreeTcpPort();

// Whether this runs in CI (CI=true), which runs as root and can make
// network namespaces and start containers: a test that would skip for
// want of them fails there instead.
bool InCi();
// Skips the test saying why, or, in CI, fails it. Returns from the caller.
#define VMIG_SKIP_UNLESS_CI(why)                                    \
  do {                                                              \
    if (::vmig::testing::InCi()) {                                  \
      GTEST_FAIL() << "CI=true, and this test cannot run: " << why; \
    } else {                                                        \
      GTEST_SKIP() << why;                                          \
    }                                                               \
  } while (0)

// vmigctl against `d`: `args` after its --addr.
CommandResult Ctl(const Daemon& d, std::vector<std::string> args);

// Whether `d` reports its data plane (grpc.health.v1 service
// vmig.dataplane) SERVING within `seconds` (one look if 0).
bool DataplaneServing(const Daemon& d, double seconds);

}  // namespace vmig::testing

#endif  // VMIGD_TESTS_INTEGRATION_PROCESS_H_
