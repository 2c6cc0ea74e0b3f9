#include "tests/integration/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/subprocess.h"

namespace vmig::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/vmigd-test-XXXXXX";
  path_ = mkdtemp(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name,
                           const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream(p) << content;
  return p;
}

std::string BinaryPath(const std::string& rel) {
  const char* dir = std::getenv("VMIG_BUILD_DIR");
  return std::string(dir ? dir : ".") + "/" + rel;
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env) {
  TempDir tmp;
  CommandResult r;
  pid_t pid = Spawn(argv, env, tmp.path() + "/out", tmp.path() + "/err");
  if (pid < 0) return r;
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFileOrEmpty(tmp.path() + "/out");
  r.err = ReadFileOrEmpty(tmp.path() + "/err");
  return r;
}

Daemon::Daemon(const TempDir& dir, const std::string& name,
               const std::string& config,
               const std::map<std::string, std::string>& env,
               const std::vector<std::string>& prefix) {
  std::smatch m;
  if (std::regex_search(config, m,
                        std::regex("unix_socket:\\s*\"([^\"]+)\""))) {
    socket_ = m[1];
  }
  const std::string conf = dir.Write(name + ".conf", config);
  log_path_ = dir.path() + "/" + name + ".log";
  std::vector<std::string> argv = prefix;
  argv.insert(argv.end(),
              {BinaryPath("control/server/vmigd"), "--config", conf});
  // Test daemons are peers on one host, over their Unix sockets, unless a
  // test's configuration decides for itself.
  if (config.find("allow_unix_peers") == std::string::npos)
    argv.insert(argv.end(), {"--set", "peer { allow_unix_peers: true }"});
  // ... and take the emulated devices that are the tests' own.
  if (config.find("allow_emulated_devices") == std::string::npos)
    argv.insert(argv.end(), {"--set", "allow_emulated_devices: true"});
  pid_ = Spawn(argv, env, log_path_ + ".out", log_path_);
}

Daemon::~Daemon() {
  if (pid_ > 0 && Running()) Stop(5);
}

std::shared_ptr<grpc::Channel> Daemon::Channel() const {
  // A channel of its own: a subchannel shared with the channels of a daemon
  // just killed on the same socket can still look READY, and a restarted
  // daemon would seem to answer before it does.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address(),
                                   grpc::InsecureChannelCredentials(), args);
}

bool Daemon::WaitReady(double timeout_s) {
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
  while (std::chrono::system_clock::now() < deadline) {
    if (!Running()) return false;
    if (std::filesystem::exists(socket_)) {
      auto ch = Channel();
      if (ch->WaitForConnected(std::chrono::system_clock::now() +
                               std::chrono::seconds(1))) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool Daemon::Running() {
  if (pid_ <= 0) return false;
  int status;
  return waitpid(pid_, &status, WNOHANG) == 0;
}

int Daemon::Stop(double timeout_s, double* seconds) {
  if (pid_ <= 0) return -1;
  const auto start = std::chrono::steady_clock::now();
  kill(pid_, SIGTERM);
  const int rc = WaitExit(pid_, timeout_s);
  if (seconds) {
    *seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }
  pid_ = -1;
  return rc;
}

void Daemon::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitExit(pid_, 10);
  pid_ = -1;
}

std::string Daemon::log() const { return ReadFileOrEmpty(log_path_); }

CommandResult MakeTestCertificates(const TempDir& dir) {
  const std::string script =
      "set -e; cd " + dir.path() +
      "\n"
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
      "-days 2 -subj /CN=vmig-test-ca 2>/dev/null\n"
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext\n"
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out "
      "server.csr -subj /CN=localhost 2>/dev/null\n"
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
      "-CAcreateserial -out server.pem -days 2 -extfile san.ext "
      "2>/dev/null\n"
      "openssl req -newkey rsa:2048 -nodes -keyout client.key -out "
      "client.csr -subj /CN=operator 2>/dev/null\n"
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
      "-CAcreateserial -out client.pem -days 2 2>/dev/null\n"
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out "
      "rogue.pem -days 2 -subj /CN=rogue 2>/dev/null\n"
      // Peer daemons: vmigd-a, -b and -c signed by the test CA, vmigd-x by
      // another CA; each serves and dials as 127.0.0.1 too.
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -keyout other-ca.key -out other-ca.pem -days 2 "
      "-subj /CN=other-ca 2>/dev/null\n"
      "for n in a b c x; do\n"
      "  ca=ca; [ $n = x ] && ca=other-ca\n"
      "  printf 'subjectAltName=DNS:vmigd-%s,IP:127.0.0.1\\n' $n > $n.ext\n"
      "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-keyout vmigd-$n.key -out vmigd-$n.csr -subj /CN=vmigd-$n/O=vmig-test "
      "2>/dev/null\n"
      "  openssl x509 -req -in vmigd-$n.csr -CA $ca.pem -CAkey $ca.key "
      "-CAcreateserial -out vmigd-$n.pem -days 2 -extfile $n.ext 2>/dev/null\n"
      "done\n";
  return RunCommand({"/bin/sh", "-c", script});
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

int FreeTcpPort() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(s);
  return port;
}

CommandResult Ctl(const Daemon& d, std::vector<std::string> args) {
  args.insert(args.begin(),
              {BinaryPath("control/cli/vmigctl"), "--addr", d.address()});
  return RunCommand(args);
}

bool DataplaneServing(const Daemon& d, double seconds) {
  const auto until =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  do {
    CommandResult r = Ctl(d, {"health", "vmig.dataplane"});
    if (r.exit_code == 0 && r.out.find("NOT_SERVING") == std::string::npos &&
        r.out.find("SERVING") != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

}  // namespace vmig::testing
