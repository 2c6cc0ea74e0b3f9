// vmig-bench evacuate: hosts evacuated at once, across network namespaces
// on one bridge (af_packet), with real daemons. Four runs:
//   alone    one session from s1 to d1: the rate a session has to itself;
//   evacuate N sessions from s1 to M destinations, no cap: the aggregate
//            against alone, Jain's index among the sessions, budgets;
//   capped   the same from c1, whose port is capped (dataplane.ports.
//            max_rate) below what the link carried: the cap measured on the
//            wire (the bridge's counters) over one-second windows, Jain's
//            index, budgets, and the last destination killed mid-way (its
//            sessions roll back, the source running);
//   fan-in   K sources (s1, s2, ...) into d1 at once: Jain's index among
//            them, budgets.
// Every completed session's destination device must hold the source's
// state (digests).
#include "bench/evacuate_command.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/daemon_pair.h"
#include "bench/evacuate_cap.h"
#include "bench/evacuate_series.h"
#include "bench/netns_segment.h"
#include "bench/options.h"
#include "bench/stall_sentinel.h"
#include "common/subprocess.h"
#include "common/units.h"
#include "nlohmann/json.hpp"
#include "vmig/v1/dataplane.grpc.pb.h"
#include "vmig/v1/device.grpc.pb.h"
#include "vmig/v1/migration.grpc.pb.h"

namespace vmig::bench {
namespace {

constexpr char kUsage[] =
    "usage: vmig-bench evacuate [--sessions N] [--dests M] [--sources K]\n"
    "                           [--state SIZE] [--dirty RATE] [--budget MS]\n"
    "                           [--port-cap RATE|auto] [--vmigd PATH]\n"
    "                           [--out DIR]\n\n"
    "Daemons in network namespaces on one bridge, over af_packet. Runs one\n"
    "session alone; N sessions from one source to M destinations; the same\n"
    "from a source whose port is capped (auto: an eighth of the aggregate\n"
    "the uncapped run reached), its last destination killed 0.5 s in; and K\n"
    "sources into one destination. Each session migrates one emulated\n"
    "device (SIZE, PRE_COPY, dirtying RATE) with a downtime budget of MS.\n"
    "Pass (exit 0): every completed session verified, every budget met or\n"
    "refused up front, Jain's index >= 0.9 among the sessions of each run,\n"
    "no one-second window over the cap by more than 5%, the rate within\n"
    "20% of it while the cap held the senders back (cap_waits; not judged\n"
    "if the host took a CPU away meanwhile: host_stalls), and the\n"
    "killed destination's sessions rolled\n"
    "back with their source devices running. Last line: JSON (verified,\n"
    "jain, budgets_missed, cap_error, ...). --out DIR: evacuate.json, the\n"
    "rates over time (.dat) and their plots (.svg, with gnuplot).\n"
    "Defaults: --sessions 8 --dests 2 --sources 3 --state 256MiB --dirty\n"
    "4MiB/s --budget 300 --port-cap auto.\n";

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// One daemon on one host of the segment.
struct Host {
  std::string name;
  pid_t pid = -1;
  std::string address;  // unix://...
  std::unique_ptr<v1::DeviceService::Stub> dev;
  std::unique_ptr<v1::MigrationService::Stub> mig;
  std::unique_ptr<v1::DataplaneService::Stub> dp;
};

class Evacuation {
 public:
  Evacuation(std::string vmigd, NetnsSegment& net, std::string dir)
      : vmigd_(std::move(vmigd)), net_(net), dir_(std::move(dir)) {}
  ~Evacuation() {
    for (auto& [_, h] : hosts_) Stop(*h);
  }

  // Starts `host`'s daemon with emulated devices `devices` (id -> spec).
  // Sources poll on one core and destinations on the other: the sources
  // share theirs evenly (the kernel's fair scheduler), so that what one
  // destination gives each source is what a fan-in measures.
  absl::Status StartHost(const std::string& host, int index, bool source,
                         uint64_t max_rate,
                         const std::map<std::string, std::string>& devices) {
    const std::string sock = absl::StrCat(dir_, "/", host, ".sock");
    const std::string conf = absl::StrCat(dir_, "/", host, ".conf");
    std::string text = absl::StrCat(
        "listen { unix_socket: \"", sock, "\" }\n",
        "allow_emulated_devices: true\npeer { allow_unix_peers: true }\n",
        "dataplane { lcores: \"", source ? "1" : "0",
        "\" main_lcore: ", source ? "0" : "1", " file_prefix: \"vmig-evac-",
        host, "\"", " ports { name: \"p\" af_packet: \"", net_.Iface(host),
        "\" ipv4: \"10.77.0.", index + 1, "\"",
        max_rate ? absl::StrCat(" max_rate: ", max_rate) : "", " } }\n");
    for (const auto& [id, spec] : devices)
      absl::StrAppend(&text, "devices { device_id: \"", id,
                      "\" emulated_spec: \"", spec, "\" }\n");
    FILE* f = fopen(conf.c_str(), "w");
    if (!f) return absl::UnavailableError("cannot write " + conf);
    fputs(text.c_str(), f);
    fclose(f);
    auto h = std::make_unique<Host>();
    h->name = host;
    std::vector<std::string> argv = net_.Prefix(host);
    argv.insert(argv.end(), {vmigd_, "--config", conf});
    h->pid =
        Spawn(argv, {}, "/dev/null", absl::StrCat(dir_, "/", host, ".log"));
    h->address = "unix://" + sock;
    auto ch =
        grpc::CreateChannel(h->address, grpc::InsecureChannelCredentials());
    bool up = false;
    for (int i = 0; i < 400 && !up; ++i) {
      up = std::filesystem::exists(sock) &&
           ch->WaitForConnected(std::chrono::system_clock::now() +
                                std::chrono::milliseconds(50));
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!up)
      return absl::UnavailableError(
          absl::StrCat(host, ": vmigd did not come up: ",
                       ReadFileOrEmpty(absl::StrCat(dir_, "/", host, ".log"))));
    h->dev = v1::DeviceService::NewStub(ch);
    h->mig = v1::MigrationService::NewStub(ch);
    h->dp = v1::DataplaneService::NewStub(ch);
    hosts_[host] = std::move(h);
    return absl::OkStatus();
  }
  void Kill(const std::string& host) {
    if (auto it = hosts_.find(host); it != hosts_.end()) Stop(*it->second);
  }
  Host& host(const std::string& name) { return *hosts_.at(name); }

  // Migrates every session of `run` at once; `kill_after` (> 0): the
  // destination of the sessions marked killed dies that many seconds after
  // all sessions were in pre-copy.
  void Run(RunResult& run, int budget_ms, double kill_after) {
    const Clock::time_point t0 = Clock::now();
    for (SessionRun& s : run.sessions) {
      grpc::ClientContext c;
      c.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
      v1::PrepareIncomingRequest p;
      p.set_session_id(s.id);
      p.add_devices(s.device);
      v1::Session out;
      grpc::Status st = host(s.dest).mig->PrepareIncoming(&c, p, &out);
      if (!st.ok()) s.end.set_error("prepare: " + st.error_message());
    }
    for (SessionRun& s : run.sessions) {
      if (!s.end.error().empty()) continue;
      grpc::ClientContext c;
      c.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
      v1::StartMigrationRequest r;
      r.set_session_id(s.id);
      r.set_peer(host(s.dest).address);
      auto* m = r.add_devices();
      m->set_source(s.device);
      m->set_destination(s.device);
      r.mutable_downtime_budget()->set_nanos(budget_ms % 1000 * 1000000);
      r.mutable_downtime_budget()->set_seconds(budget_ms / 1000);
      r.mutable_precopy()->mutable_max_precopy()->set_seconds(90);
      v1::Session out;
      grpc::Status st = host(s.source).mig->StartMigration(&c, r, &out);
      if (!st.ok()) s.end.set_error("start: " + st.error_message());
    }
    const std::string source_host = run.sessions.front().source;
    bool all_precopy_seen = false, killed = false;
    double all_precopy_at = 0;
    for (;;) {
      const double t = Since(t0);
      bool all_ended = true, all_precopy = true;
      for (SessionRun& s : run.sessions) {
        v1::Session now = Get(host(s.source), s.id);
        if (!s.end.error().empty() && now.name().empty()) now = s.end;
        s.bytes.emplace_back(t, now.progress().transferred_bytes());
        s.phases.push_back(now.phase());
        const bool ended = now.phase() == v1::PHASE_COMPLETED ||
                           now.phase() == v1::PHASE_FAILED ||
                           now.phase() == v1::PHASE_CANCELLED ||
                           now.name().empty();
        if (ended) s.end = now;
        all_ended = all_ended && ended;
        all_precopy = all_precopy && now.phase() == v1::PHASE_PRECOPY;
      }
      // Read through a shell in the bridge's namespace (5-10 ms): stamped
      // at the middle of the read. A read that failed, or that took over
      // 50 ms (the host took a CPU away during it), is left out: the
      // counter was read at some point of it, and a window of a second
      // ending there would be off by up to the read's length (a CI run
      // saw a window 74% over the cap).
      const double before = Since(t0);
      absl::StatusOr<uint64_t> wire = net_.SentBytes(source_host);
      const double after = Since(t0);
      run.wire.emplace_back((before + after) / 2, wire.ok() ? *wire : 0);
      run.wire_read.push_back(wire.ok() && after - before <= 0.05);
      if (!wire.ok())
        std::fprintf(stderr, "evacuate: sample %zu left out: %s\n",
                     run.wire.size() - 1,
                     std::string(wire.status().message()).c_str());
      run.cap_waits.push_back(CapWaits(host(source_host)));
      if (all_precopy && !all_precopy_seen) {
        all_precopy_seen = true;
        all_precopy_at = t;
      }
      if (kill_after > 0 && all_precopy_seen && !killed &&
          t - all_precopy_at >= kill_after) {
        for (const SessionRun& s : run.sessions) {
          if (s.killed) Kill(s.dest);
        }
        killed = true;
      }
      if (all_ended || t > 180) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Judge(run);
  }

 private:
  static v1::Session Get(Host& h, const std::string& id) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetSessionRequest r;
    r.set_name("sessions/" + id);
    v1::Session s;
    (void)h.mig->GetSession(&c, r, &s);
    return s;
  }
  static uint64_t CapWaits(Host& h) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::DataplaneStatus st;
    if (!h.dp->GetDataplaneStatus(&c, v1::GetDataplaneStatusRequest(), &st)
             .ok())
      return 0;
    uint64_t waits = 0;
    for (const v1::PortStatus& p : st.ports()) waits += p.cap_waits();
    return waits;
  }
  static v1::Device Device(Host& h, const std::string& id) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetDeviceRequest r;
    r.set_name("devices/" + id);
    v1::Device d;
    (void)h.dev->GetDevice(&c, r, &d);
    return d;
  }
  void Stop(Host& h) {
    if (h.pid <= 0) return;
    kill(h.pid, SIGKILL);
    WaitExit(h.pid, 30);
    h.pid = -1;
  }

  void Judge(RunResult& run) {
    // Rates among the sessions over the samples in which every session
    // still meant to finish was in pre-copy at both ends (all wanted the
    // link): per session bytes over that time; Jain's index of them.
    std::vector<double> rate(run.sessions.size(), 0);
    double span = 0;
    const size_t n = run.wire.size();
    auto busy = [&](size_t k) {
      for (const SessionRun& s : run.sessions) {
        if (s.killed) continue;
        if (k >= s.phases.size() || s.phases[k] != v1::PHASE_PRECOPY)
          return false;
      }
      return true;
    };
    for (size_t k = 1; k < n; ++k) {
      if (!busy(k - 1) || !busy(k)) continue;
      const double dt = run.wire[k].first - run.wire[k - 1].first;
      span += dt;
      for (size_t i = 0; i < run.sessions.size(); ++i) {
        const auto& b = run.sessions[i].bytes;
        rate[i] += static_cast<double>(b[k].second - b[k - 1].second);
      }
    }
    if (span <= 0) {
      // No sample caught every session in pre-copy (one session, or
      // pre-copies too short to overlap): each session's own pre-copy.
      for (size_t i = 0; i < run.sessions.size(); ++i) {
        const SessionRun& s = run.sessions[i];
        size_t first = n, last = 0;
        for (size_t k = 0; k < s.phases.size(); ++k) {
          if (s.phases[k] != v1::PHASE_PRECOPY) continue;
          first = std::min(first, k);
          last = k;
        }
        if (first < last) {
          rate[i] = static_cast<double>(s.bytes[last].second -
                                        s.bytes[first].second) /
                    (s.bytes[last].first - s.bytes[first].first);
        }
      }
      span = 1;  // rates are per second already
    }
    double sum = 0, sq = 0;
    int counted = 0;
    for (size_t i = 0; i < rate.size(); ++i) {
      if (run.sessions[i].killed || span <= 0) continue;
      rate[i] /= span;
      sum += rate[i];
      sq += rate[i] * rate[i];
      ++counted;
    }
    run.aggregate = sum;
    run.jain = sq > 0 ? sum * sum / (counted * sq) : 0;
    std::vector<bool> busy_at(n);
    for (size_t k = 0; k < n; ++k) busy_at[k] = busy(k);
    JudgeCap(run, busy_at, cap_);
    for (SessionRun& s : run.sessions) {
      const v1::Session& e = s.end;
      if (s.killed) {
        ++run.killed;
        const v1::Device d = Device(host(s.source), s.device);
        if (e.phase() == v1::PHASE_FAILED && !e.committed() &&
            d.state() == v1::DEVICE_STATE_RUNNING && d.session().empty())
          ++run.killed_rolled_back;
        continue;
      }
      if (e.phase() == v1::PHASE_COMPLETED) {
        ++run.completed;
        if (!e.report().budget_met()) ++run.budgets_missed;
        const v1::Device a = Device(host(s.source), s.device);
        const v1::Device b = Device(host(s.dest), s.device);
        if (a.emulated_digest() != 0 &&
            a.emulated_digest() == b.emulated_digest() &&
            b.state() == v1::DEVICE_STATE_RUNNING)
          ++run.verified;
      } else if (e.error().find("cannot be met") != std::string::npos) {
        ++run.refused;
      } else {
        ++run.failed;
        std::fprintf(stderr, "%s: %s %s: %s\n", run.name.c_str(), s.id.c_str(),
                     v1::Phase_Name(e.phase()).c_str(), e.error().c_str());
      }
    }
  }

 public:
  uint64_t cap_ = 0;

 private:
  const std::string vmigd_;
  NetnsSegment& net_;
  const std::string dir_;
  std::map<std::string, std::unique_ptr<Host>> hosts_;
};

nlohmann::json RunJson(const RunResult& r) {
  return {{"sessions", r.sessions.size()},
          {"completed", r.completed},
          {"verified", r.verified},
          {"budgets_missed", r.budgets_missed},
          {"refused_up_front", r.refused},
          {"failed", r.failed},
          {"killed", r.killed},
          {"killed_rolled_back", r.killed_rolled_back},
          {"aggregate_gbytes_per_s", r.aggregate / 1e9},
          {"jain", r.jain},
          {"cap_error", r.cap_error},
          {"cap_over", r.cap_over},
          {"cap_under", r.cap_under},
          {"cap_worst_under", r.cap_worst_under},
          {"cap_held_seconds", r.cap_held_seconds},
          {"cap_windows", r.cap_windows}};
}

// How far below the cap the rate may fall while the cap holds the senders
// back (see JudgeCap).
constexpr double kCapShortfall = 0.2;

void Print(const RunResult& r) {
  std::printf(
      "%-9s %2zu sessions: %d completed (%d verified), %d budgets missed, "
      "%d refused, %d failed; %.3f GB/s together, Jain %.3f",
      r.name.c_str(), r.sessions.size(), r.completed, r.verified,
      r.budgets_missed, r.refused, r.failed, r.aggregate / 1e9, r.jain);
  if (r.cap_windows > 0)
    std::printf(
        ", cap: %d windows, worst over %.1f%%, worst under %.1f%%; %.1f%% "
        "under over %.1f s held",
        r.cap_windows, 100 * r.cap_over, 100 * r.cap_worst_under,
        100 * r.cap_under, r.cap_held_seconds);
  if (r.killed > 0)
    std::printf(", %d/%d killed rolled back", r.killed_rolled_back, r.killed);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

int RunEvacuate(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {
      {"--sessions", "8"},    {"--dests", "2"},      {"--sources", "3"},
      {"--state", "256MiB"},  {"--dirty", "4MiB/s"}, {"--budget", "300"},
      {"--port-cap", "auto"}, {"--vmigd", ""},       {"--out", ""}};
  if (int rc = ParseOptions(args, "evacuate", kUsage, opt); rc >= 0) return rc;
  int sessions = 0, dests = 0, sources = 0, budget = 0;
  if (!absl::SimpleAtoi(opt["--sessions"], &sessions) || sessions < 2 ||
      sessions > 32 || !absl::SimpleAtoi(opt["--dests"], &dests) || dests < 1 ||
      dests > 8 || !absl::SimpleAtoi(opt["--sources"], &sources) ||
      sources < 2 || sources > 8 ||
      !absl::SimpleAtoi(opt["--budget"], &budget) || budget < 1) {
    std::fprintf(stderr,
                 "vmig-bench evacuate: --sessions 2-32, --dests 1-8, "
                 "--sources 2-8, --budget >= 1\n");
    return 2;
  }
  uint64_t cap = 0;
  if (opt["--port-cap"] != "auto") {
    absl::StatusOr<double> r = ParseRate(opt["--port-cap"]);
    if (!r.ok() || *r < 1e6) {
      std::fprintf(stderr,
                   "vmig-bench evacuate: --port-cap: a rate of at "
                   "least 1MB/s, or auto\n");
      return 2;
    }
    cap = static_cast<uint64_t>(*r);
  }
  const std::string vmigd =
      opt["--vmigd"].empty() ? FindVmigd() : opt["--vmigd"];
  const std::string src_spec =
      absl::StrCat("emu:state=", opt["--state"],
                   ",flags=stop_copy|p2p|pre_copy,dirty=", opt["--dirty"]);
  const std::string dst_spec = absl::StrCat("emu:state=", opt["--state"],
                                            ",flags=stop_copy|p2p|pre_copy");

  std::vector<std::string> hosts = {"s1", "c1"};
  for (int k = 2; k <= sources; ++k) hosts.push_back(absl::StrCat("s", k));
  for (int m = 1; m <= dests; ++m) hosts.push_back(absl::StrCat("d", m));
  absl::StatusOr<std::unique_ptr<NetnsSegment>> net =
      NetnsSegment::Create(hosts);
  if (!net.ok()) {
    std::fprintf(stderr, "vmig-bench evacuate: %s\n",
                 std::string(net.status().message()).c_str());
    return 1;
  }
  char tmpl[] = "/tmp/vmig-bench-evacuate-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  Evacuation ev(vmigd, **net, dir);

  // The runs and their sessions; each destination device is used once.
  std::vector<RunResult> runs(4);
  runs[0].name = "alone";
  runs[0].sessions.emplace_back("alone", "s1", "d1", "a0");
  runs[1].name = "evacuate";
  runs[2].name = "capped";
  for (int i = 0; i < sessions; ++i) {
    const std::string d = absl::StrCat("d", 1 + i % dests);
    runs[1].sessions.emplace_back(absl::StrCat("e", i), "s1", d,
                                  absl::StrCat("e", i));
    SessionRun c{absl::StrCat("c", i), "c1", d, absl::StrCat("c", i)};
    c.killed = dests > 1 && d == absl::StrCat("d", dests);
    runs[2].sessions.push_back(c);
  }
  runs[3].name = "fan-in";
  for (int k = 1; k <= sources; ++k)
    runs[3].sessions.emplace_back(absl::StrCat("f", k), absl::StrCat("s", k),
                                  "d1", absl::StrCat("f", k));
  std::map<std::string, std::map<std::string, std::string>> devices;
  int seed = 1;
  for (const RunResult& r : runs) {
    for (const SessionRun& s : r.sessions) {
      devices[s.source][s.device] = absl::StrCat(src_spec, ",seed=", seed++);
      devices[s.dest][s.device] = absl::StrCat(dst_spec, ",seed=", seed++);
    }
  }
  // Every host but the capped source now; it follows once the cap is known.
  int index = 0;
  std::map<std::string, int> indexes;
  for (const std::string& h : hosts) indexes[h] = index++;
  for (const std::string& h : hosts) {
    if (h == "c1") continue;
    if (absl::Status s =
            ev.StartHost(h, indexes[h], h[0] != 'd', 0, devices[h]);
        !s.ok()) {
      std::fprintf(stderr, "vmig-bench evacuate: %s\n",
                   std::string(s.message()).c_str());
      return 1;
    }
  }
  // af_packet links come up at once; give the ports a moment to settle.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ev.Run(runs[0], budget, 0);
  Print(runs[0]);
  ev.Run(runs[1], budget, 0);
  Print(runs[1]);
  if (cap == 0) {
    // An eighth of what the uncapped run carried: well below what the
    // link can do, so that every window wants more than the cap, and long
    // enough for one-second windows and a kill mid-way (with a quarter, an
    // idle 2-core guest ran its capped sessions in 1.1-1.6 s: one to three
    // windows, and none when a sample was left out).
    cap = std::max<uint64_t>(
        1'000'000,
        static_cast<uint64_t>(runs[1].aggregate / 8 / 1e6) * 1'000'000);
  }
  ev.cap_ = cap;
  if (absl::Status s =
          ev.StartHost("c1", indexes["c1"], true, cap, devices["c1"]);
      !s.ok()) {
    std::fprintf(stderr, "vmig-bench evacuate: %s\n",
                 std::string(s.message()).c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  size_t host_stalls = 0;
  {
    // Whether the host took a CPU away while the cap was measured: its
    // reach is then shown, not judged (its ceiling always is).
    const StallSentinel sentinel;
    ev.Run(runs[2], budget, /*kill_after=*/0.5);
    host_stalls = sentinel.Count();
  }
  Print(runs[2]);
  ev.cap_ = 0;
  ev.Run(runs[3], budget, 0);
  Print(runs[3]);

  int verified = 0, completed = 0, missed = 0, refused = 0, failed = 0;
  double jain = 1;
  for (size_t r = 1; r < runs.size(); ++r) jain = std::min(jain, runs[r].jain);
  for (const RunResult& r : runs) {
    verified += r.verified;
    completed += r.completed;
    missed += r.budgets_missed;
    refused += r.refused;
    failed += r.failed;
  }
  const double ratio =
      runs[0].aggregate > 0 ? runs[1].aggregate / runs[0].aggregate : 0;
  const bool killed_ok = runs[2].killed == runs[2].killed_rolled_back;
  const bool pass =
      verified == completed && failed == 0 && missed == 0 && jain >= 0.9 &&
      runs[2].cap_windows > 0 && runs[2].cap_held_seconds >= 0.5 &&
      runs[2].cap_over <= 0.05 &&
      (runs[2].cap_under <= kCapShortfall || host_stalls > 0) && killed_ok;
  if (host_stalls > 0)
    std::printf(
        "NOT JUDGED: how near the cap came (%.1f%% under), for the host took "
        "a CPU away %zu times while it was measured\n",
        100 * runs[2].cap_under, host_stalls);
  std::printf(
      "aggregate %.3f GB/s with %d sessions, %.2fx one alone (%.3f GB/s); "
      "port cap %.1f MB/s passed by %.1f%% at worst, %.1f%% under while held; "
      "%s\n",
      runs[1].aggregate / 1e9, sessions, ratio, runs[0].aggregate / 1e9,
      static_cast<double>(cap) / 1e6, 100 * runs[2].cap_over,
      100 * runs[2].cap_under, pass ? "PASS" : "FAIL");
  nlohmann::json j = {{"verified", verified == completed && completed > 0},
                      {"completed", completed},
                      {"jain", jain},
                      {"budgets_missed", missed},
                      {"refused_up_front", refused},
                      {"failed", failed},
                      {"cap_bytes_per_s", cap},
                      {"cap_error", runs[2].cap_error},
                      {"host_stalls", host_stalls},
                      {"aggregate_over_alone", ratio},
                      {"killed_rolled_back", killed_ok},
                      {"pass", pass}};
  for (const RunResult& r : runs) j["runs"][r.name] = RunJson(r);
  if (!opt["--out"].empty()) WriteSeries(opt["--out"], runs, cap, j);
  std::printf("%s\n", j.dump().c_str());
  std::filesystem::remove_all(dir);
  return pass ? 0 : 1;
}

}  // namespace vmig::bench
