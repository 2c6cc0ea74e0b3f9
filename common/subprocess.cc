#include "common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace vmig {
namespace {

std::vector<std::string> MergedEnv(
    const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace

pid_t Spawn(const std::vector<std::string>& argv,
            const std::map<std::string, std::string>& env,
            const std::string& out_path, const std::string& err_path) {
  // Everything the child needs is made before fork: between fork and exec
  // it makes only async-signal-safe calls (the parent has other threads).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> envs = MergedEnv(env);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;  // the parent, or -1
  // The child dies with its parent: a test or benchmark that crashes (or is
  // killed) leaves no daemon behind holding cores, sockets and hugepages.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the parent is already gone
  const int in = open("/dev/null", O_RDONLY);
  const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
      dup2(err, 2) < 0) {
    _exit(127);
  }
  for (int fd : {in, out, err}) {
    if (fd > 2) close(fd);
  }
  execve(args[0], args.data(), envp.data());
  _exit(127);
}

int WaitExit(pid_t pid, double timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count() > timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

double ProcessCpuSeconds(pid_t pid) {
  const std::string stat =
      ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  // After the command name (which may hold spaces) the fields start at the
  // third, state; utime and stime are the 14th and 15th, in clock ticks.
  std::istringstream rest(stat.substr(paren + 1));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) ticks += std::atof(field.c_str());
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string DescribeThreads(pid_t pid) {
  const std::string task = absl::StrCat("/proc/", pid, "/task");
  std::error_code ec;
  std::string out;
  for (const auto& t : std::filesystem::directory_iterator(task, ec)) {
    const std::string dir = t.path().string();
    std::string comm = ReadFileOrEmpty(dir + "/comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    const std::string stat = ReadFileOrEmpty(dir + "/stat");
    const size_t paren = stat.rfind(')');
    const char state = paren + 2 < stat.size() ? stat[paren + 2] : '?';
    absl::StrAppend(&out, t.path().filename().string(), " ", comm, " ",
                    std::string(1, state), " in ",
                    ReadFileOrEmpty(dir + "/wchan"), "\n");
    std::istringstream stack(ReadFileOrEmpty(dir + "/stack"));
    std::string frame;
    for (int i = 0; i < 4 && std::getline(stack, frame); ++i) {
      absl::StrAppend(&out, "    ", frame, "\n");
    }
  }
  return out;
}

std::string SelfPath() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).string();
}

}  // namespace vmig
