// vmig-bench contention: the transport with and without a CPU hog on every
// core. Two poll-mode processes already share this host's cores; a hog
// that spins on each of them deschedules their workers for milliseconds at
// a time, which a transport that takes every late ack for a loss answers
// with spurious retransmissions and a collapsed window. Runs alternate
// (quiet, hogged, quiet, ...) so that drift on a shared machine falls on
// both series alike.
#include "bench/contention_command.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/options.h"
#include "bench/sweep_point.h"
#include "common/subprocess.h"
#include "nlohmann/json.hpp"

namespace vmig::bench {
namespace {

constexpr char kUsage[] =
    "usage: vmig-bench contention [--runs N] [--streams N] [--bytes SIZE]\n"
    "                             [--cipher aes-256-gcm|none]\n\n"
    "Runs `vmig-bench transport` (memif, verified) N times on a quiet host\n"
    "and N times with a CPU hog spinning on every core, alternating. Prints\n"
    "each series' rates (p10, median, range), retransmissions and the\n"
    "spurious timeouts the transport detected and undid. Pass: in both\n"
    "series p10 >= 0.6x the median, every transfer verified, and no\n"
    "retransmission at all in the quiet runs (memif loses nothing).\n"
    "Defaults: --runs 10 --streams 4 --bytes 2GiB --cipher aes-256-gcm.\n"
    "Last line: JSON.\n";

// One busy loop pinned to each CPU until destroyed.
class CpuHog {
 public:
  CpuHog() {
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned c = 0; c < cpus; ++c) {
      const pid_t pid = fork();
      if (pid == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c, &set);
        sched_setaffinity(0, sizeof(set), &set);
        volatile uint64_t spin = 0;
        for (;;) spin = spin + 1;
      }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  ~CpuHog() {
    for (pid_t p : pids_) kill(p, SIGKILL);
    for (pid_t p : pids_) waitpid(p, nullptr, 0);
  }
  CpuHog(const CpuHog&) = delete;
  CpuHog& operator=(const CpuHog&) = delete;

 private:
  std::vector<pid_t> pids_;
};

struct Series {
  std::vector<double> rates;  // GB/s
  double retransmits = 0, spurious = 0, requests = 0, answered_whole = 0;
  int unverified = 0;
  double p10() const { return Quantile(rates, 0.1); }
  double p50() const { return Quantile(rates, 0.5); }
  bool Steady() const { return !rates.empty() && p10() >= 0.6 * p50(); }
  nlohmann::json ToJson() const {
    return {{"gbytes_per_s", rates},
            {"p10", p10()},
            {"p50", p50()},
            {"p10_over_p50", p50() > 0 ? p10() / p50() : 0},
            {"retransmits", retransmits},
            {"spurious_rtos", spurious},
            {"ack_requests", requests},
            {"requests_answered_whole", answered_whole},
            {"unverified", unverified}};
  }
};

}  // namespace

int RunContention(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {{"--runs", "10"},
                                            {"--streams", "4"},
                                            {"--bytes", "2GiB"},
                                            {"--cipher", "aes-256-gcm"}};
  if (int rc = ParseOptions(args, "contention", kUsage, opt); rc >= 0)
    return rc;
  int runs = 0;
  if (!absl::SimpleAtoi(opt["--runs"], &runs) || runs < 1 || runs > 100) {
    std::fprintf(stderr, "contention: --runs takes 1..100\n");
    return 2;
  }
  char tmpl[] = "/tmp/vmig-bench-contention-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  Series quiet, hogged;
  bool ran_all = true;
  for (int i = 0; i < 2 * runs && ran_all; ++i) {
    const bool hog = i % 2 == 1;
    Series& series = hog ? hogged : quiet;
    const std::string out = absl::StrCat(dir, "/run", i);
    std::unique_ptr<CpuHog> h;
    if (hog) h = std::make_unique<CpuHog>();
    const pid_t pid = Spawn(
        {SelfPath(), "transport", "--streams", opt["--streams"], "--bytes",
         opt["--bytes"], "--cipher", opt["--cipher"], "--no-baselines"},
        {}, out + ".out", out + ".err");
    const int rc = WaitExit(pid, 600);
    h.reset();
    const std::string text = ReadFileOrEmpty(out + ".out");
    std::vector<std::string> lines =
        absl::StrSplit(text, '\n', absl::SkipEmpty());
    nlohmann::json j = nlohmann::json::parse(
        lines.empty() ? std::string("x") : lines.back(), nullptr, false);
    if (rc != 0 || j.is_discarded() || !j.contains("gbytes_per_s")) {
      std::fprintf(stderr, "contention: run %d (%s) failed (exit %d): %s\n", i,
                   hog ? "hog" : "quiet", rc,
                   ReadFileOrEmpty(out + ".err").substr(0, 2000).c_str());
      ran_all = false;
      break;
    }
    series.rates.push_back(j["gbytes_per_s"].get<double>());
    series.retransmits += j["retransmits"].get<double>();
    series.spurious += j.value("spurious_rtos", 0.0);
    series.requests += j.value("ack_requests", 0.0);
    series.answered_whole += j.value("requests_answered_whole", 0.0);
    if (!j["verified"].get<bool>()) ++series.unverified;
    std::printf(
        "run %2d %-5s %6.3f GB/s  retransmits %3.0f  RTO expiries %3.0f "
        "(answered whole %3.0f)  spurious RTOs undone %3.0f%s\n",
        i / 2 + 1, hog ? "hog" : "quiet", j["gbytes_per_s"].get<double>(),
        j["retransmits"].get<double>(), j.value("ack_requests", 0.0),
        j.value("requests_answered_whole", 0.0), j.value("spurious_rtos", 0.0),
        j["verified"].get<bool>() ? "" : "  NOT VERIFIED");
    std::fflush(stdout);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  for (const auto& [name, s] :
       {std::pair<const char*, const Series&>{"quiet", quiet},
        std::pair<const char*, const Series&>{"hog", hogged}}) {
    double lo =
        s.rates.empty() ? 0 : *std::min_element(s.rates.begin(), s.rates.end());
    double hi =
        s.rates.empty() ? 0 : *std::max_element(s.rates.begin(), s.rates.end());
    std::printf(
        "%-5s %zu runs: median %.3f GB/s (range %.3f-%.3f), p10 %.3f = "
        "%.2fx the median; retransmits %.0f; RTO expiries %.0f, of which "
        "%.0f answered whole; spurious RTOs undone %.0f\n",
        name, s.rates.size(), s.p50(), lo, hi, s.p10(),
        s.p50() > 0 ? s.p10() / s.p50() : 0, s.retransmits, s.requests,
        s.answered_whole, s.spurious);
  }
  const bool pass = ran_all && quiet.Steady() && hogged.Steady() &&
                    quiet.retransmits == 0 && quiet.unverified == 0 &&
                    hogged.unverified == 0;
  std::printf(
      "%s: p10 >= 0.6x median in both series, no retransmission "
      "when quiet, all verified\n",
      pass ? "PASS" : "FAIL");
  nlohmann::json j = {
      {"runs", runs},
      {"quiet", quiet.ToJson()},
      {"hog", hogged.ToJson()},
      {"hog_over_quiet", quiet.p50() > 0 ? hogged.p50() / quiet.p50() : 0},
      {"pass", pass}};
  std::printf("%s\n", j.dump().c_str());
  return pass ? 0 : 1;
}

}  // namespace vmig::bench
