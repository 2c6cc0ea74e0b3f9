// vmig-bench survive: kill -9 either daemon of a memif pair at a random
// point of a migration (pre-copy, stop-copy, the commit) or while idle, N
// times. The survivor must live through every kill; the victim is started
// again on its configuration and state directory, the link must come back,
// and every session must end by the first law: completed with the
// destination's devices holding the source's state and the source's
// stopped, or rolled back with the source's devices running, intact.
#include "bench/survive_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/daemon_pair.h"
#include "bench/options.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"

namespace vmig::bench {
namespace {

constexpr char kUsage[] =
    "usage: vmig-bench survive [--kills N] [--seed S] [--state SIZE]\n"
    "                          [--zero-copy yes|no] [--vmigd PATH]\n\n"
    "Two vmigd daemons joined by memif (the source its client, zero-copy by\n"
    "default; the destination its server), each with a state directory.\n"
    "N times: two emulated devices migrate, and one daemon, drawn at\n"
    "random, is killed (SIGKILL) at a point drawn at random: idle (no\n"
    "session), pre-copy, stop-copy, or the commit (the destination's slow\n"
    "resume arcs keep it open). Then: the survivor must still run and\n"
    "answer; the victim is started again and both ends must report the\n"
    "data-plane link up (the time it took is the reconnect time); every\n"
    "session must end, completed (the destination's devices hold the\n"
    "source's state, the source's stay stopped) or not (the source's\n"
    "devices run with the state they had), and no device is left held.\n"
    "Pass: no survivor crashed, no violation. Last line: JSON.\n"
    "Defaults: --kills 200 --seed 1 --state 32MiB --zero-copy yes\n";

constexpr int kLivenessMs = 1500;
const char* const kPoints[] = {"idle", "precopy", "stopcopy", "commit"};

grpc::ClientContext* Ctx(grpc::ClientContext& c, int seconds = 30) {
  c.set_deadline(std::chrono::system_clock::now() +
                 std::chrono::seconds(seconds));
  return &c;
}

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool Ended(v1::Phase p) {
  return p == v1::PHASE_COMPLETED || p == v1::PHASE_FAILED ||
         p == v1::PHASE_CANCELLED;
}

struct Options {
  int kills = 200;
  uint64_t seed = 1;
  std::string state = "32MiB";
  bool zero_copy = true;
  std::string vmigd;
};

int Parse(const std::vector<std::string>& args, Options& o) {
  o.vmigd = FindVmigd();
  std::map<std::string, std::string> opt = {{"--kills", absl::StrCat(o.kills)},
                                            {"--seed", absl::StrCat(o.seed)},
                                            {"--state", o.state},
                                            {"--zero-copy", "yes"},
                                            {"--vmigd", o.vmigd}};
  if (int rc = ParseOptions(args, "survive", kUsage, opt); rc >= 0) return rc;
  if (!absl::SimpleAtoi(opt["--kills"], &o.kills) || o.kills < 1 ||
      o.kills > 100000 || !absl::SimpleAtoi(opt["--seed"], &o.seed) ||
      (opt["--zero-copy"] != "yes" && opt["--zero-copy"] != "no")) {
    std::fprintf(stderr, "survive: bad value\n%s", kUsage);
    return 2;
  }
  o.state = opt["--state"];
  o.zero_copy = opt["--zero-copy"] == "yes";
  o.vmigd = opt["--vmigd"];
  return -1;
}

// One kill and what followed it.
struct Round {
  bool source_victim = false;
  std::string point;     // drawn
  std::string landed;    // the source's phase when the kill landed
  bool survived = true;  // the survivor ran and answered after the kill
  std::string death;     // how the survivor ended, if it did not
  double reconnect_s = -1;
  std::string outcome;    // COMPLETED, FAILED ...
  std::string violation;  // empty: the first law held
};

class Campaign {
 public:
  Campaign(const Options& o, DaemonPair& pair) : o_(o), pair_(pair) {}

  Round Run(int n, std::mt19937_64& rng) {
    Round r;
    r.source_victim = rng() % 2 == 0;
    r.point = kPoints[rng() % 4];
    std::uniform_real_distribution<double> u(0, 1);
    const double wait_s = u(rng) * (r.point == "precopy" ? 0.3 : 0.15);
    const std::string session = absl::StrCat("k", n);
    ids_ = {absl::StrCat(session, "a"), absl::StrCat(session, "b")};
    if (r.point != "idle") {
      if (std::string e = Begin(session, n); !e.empty()) {
        r.violation = "could not start: " + e;
        return r;
      }
      r.landed = WaitForPoint(session, r.point);
    } else {
      r.landed = "idle";
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(wait_s));
    if (r.point != "idle") r.landed = SourcePhase(session, r.landed);
    pair_.Kill(r.source_victim);
    const bool survivor = !r.source_victim;
    // The survivor notices (within the liveness bound) and must live.
    if (r.point != "idle") WaitSettled(survivor, session, kLivenessMs + 3000);
    r.survived = pair_.Alive(survivor);
    if (!r.survived) {
      r.death = pair_.Death(survivor);
      return r;  // the caller starts a fresh pair
    }
    const auto t0 = Clock::now();
    if (absl::Status s = pair_.StartAgain(r.source_victim); !s.ok()) {
      r.violation = std::string(s.message());
      return r;
    }
    r.reconnect_s = Since(t0);
    if (r.point != "idle") Judge(session, r);
    for (const auto& id : ids_) Detach(id);
    return r;
  }

 private:
  // Attaches the round's devices, prepares and starts a manual session;
  // an error text, or empty.
  std::string Begin(const std::string& session, int n) {
    before_.clear();
    for (size_t i = 0; i < ids_.size(); ++i) {
      const std::string flags =
          i == 0 ? "stop_copy|p2p|pre_copy" : "stop_copy|p2p";
      // Read at 128 MiB/s: stop-copy lasts a quarter second a device.
      const std::string src =
          absl::StrCat("emu:state=", o_.state, ",flags=", flags,
                       ",read_bw=128MiB/s,seed=", n * 4 + i + 1);
      // Slow destination arcs hold the commit open for a few hundred ms.
      const std::string dst = absl::StrCat(
          "emu:state=", o_.state, ",flags=", flags, ",transition_ms=60");
      for (bool source : {true, false}) {
        v1::AttachDeviceRequest a;
        a.set_device_id(ids_[i]);
        a.set_emulated_spec(source ? src : dst);
        grpc::ClientContext c;
        v1::Device d;
        grpc::Status st = pair_.devices(source).AttachDevice(Ctx(c), a, &d);
        if (!st.ok()) return "attach: " + st.error_message();
        if (source) before_.push_back(d.emulated_digest());
      }
    }
    v1::PrepareIncomingRequest prep;
    prep.set_session_id(session);
    for (const auto& id : ids_) prep.add_devices(id);
    grpc::ClientContext c1;
    v1::Session s;
    if (grpc::Status st =
            pair_.migration(false).PrepareIncoming(Ctx(c1), prep, &s);
        !st.ok()) {
      return "prepare: " + st.error_message();
    }
    v1::StartMigrationRequest req;
    req.set_session_id(session);
    req.set_peer(pair_.destination_address());
    req.set_switchover_mode(v1::SWITCHOVER_MODE_MANUAL);
    *req.mutable_downtime_budget() =
        google::protobuf::util::TimeUtil::MillisecondsToDuration(60000);
    for (const auto& id : ids_) {
      auto* m = req.add_devices();
      m->set_source(id);
      m->set_destination(id);
    }
    grpc::ClientContext c2;
    if (grpc::Status st =
            pair_.migration(true).StartMigration(Ctx(c2), req, &s);
        !st.ok()) {
      return "start: " + st.error_message();
    }
    return "";
  }

  v1::Session Get(bool source, const std::string& session, int seconds = 5) {
    grpc::ClientContext c;
    v1::GetSessionRequest g;
    g.set_name("sessions/" + session);
    v1::Session s;
    (void)pair_.migration(source).GetSession(Ctx(c, seconds), g, &s);
    return s;
  }

  std::string SourcePhase(const std::string& session,
                          const std::string& fallback) {
    const v1::Session s = Get(true, session, 2);
    return s.phase() == v1::PHASE_UNSPECIFIED ? fallback
                                              : v1::Phase_Name(s.phase());
  }

  // Drives the session to `point` (READY; then stop-copy; then the
  // destination's commit) and returns the source's phase there.
  std::string WaitForPoint(const std::string& session,
                           const std::string& point) {
    const auto t0 = Clock::now();
    while (Get(true, session).phase() != v1::PHASE_READY && Since(t0) < 20)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (point == "precopy") return SourcePhase(session, "?");
    grpc::ClientContext c;
    v1::SwitchoverRequest sw;
    sw.set_name("sessions/" + session);
    v1::Session s;
    (void)pair_.migration(true).Switchover(Ctx(c), sw, &s);
    const auto t1 = Clock::now();
    while (Since(t1) < 20) {
      const bool there =
          point == "stopcopy"
              ? Get(true, session).phase() == v1::PHASE_STOPCOPY
              : Get(false, session).phase() == v1::PHASE_SWITCHOVER;
      if (there) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return SourcePhase(session, "?");
  }

  // Until the survivor's session ended (or, on the source, is in doubt).
  void WaitSettled(bool source, const std::string& session, int ms) {
    const auto t0 = Clock::now();
    while (Since(t0) * 1000 < ms) {
      const v1::Phase p = Get(source, session).phase();
      if (Ended(p) || p == v1::PHASE_IN_DOUBT || p == v1::PHASE_UNSPECIFIED) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void Judge(const std::string& session, Round& r) {
    // A source in doubt asks the restarted destination: both end.
    const auto t0 = Clock::now();
    v1::Session s, t;
    while (Since(t0) < 30) {
      s = Get(true, session);
      t = Get(false, session);
      if (Ended(s.phase()) && (Ended(t.phase()) || t.name().empty())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    r.outcome = v1::Phase_Name(s.phase());
    if (!Ended(s.phase())) {
      r.violation = absl::StrCat(
          "the source's session did not end: ", r.outcome, " ", s.error());
      return;
    }
    const bool completed = s.phase() == v1::PHASE_COMPLETED;
    if (completed != (t.phase() == v1::PHASE_COMPLETED)) {
      r.violation = absl::StrCat("the two sides disagree: source ", r.outcome,
                                 ", destination ", v1::Phase_Name(t.phase()));
      return;
    }
    for (size_t i = 0; i < ids_.size(); ++i) {
      const v1::Device a = Device(true, ids_[i]), b = Device(false, ids_[i]);
      std::string bad;
      if (!a.session().empty() || !b.session().empty()) {
        bad = "still held by a session";
      } else if (completed) {
        if (a.state() == v1::DEVICE_STATE_RUNNING)
          bad = "runs on both hosts";
        else if (b.state() != v1::DEVICE_STATE_RUNNING ||
                 b.emulated_digest() != a.emulated_digest())
          bad = "the destination does not hold the source's state";
      } else if (a.state() != v1::DEVICE_STATE_RUNNING) {
        bad = "runs on no host";
      } else if (a.emulated_digest() != before_[i]) {
        bad = "the source's state changed";
      }
      if (!bad.empty()) {
        r.violation = absl::StrCat(
            ids_[i], ": ", bad, " (", r.outcome, "; source ",
            v1::DeviceState_Name(a.state()), " ", a.emulated_digest(),
            ", destination ", v1::DeviceState_Name(b.state()), " ",
            b.emulated_digest(), ", before ", before_[i], ")");
        return;
      }
    }
  }

  v1::Device Device(bool source, const std::string& id) {
    grpc::ClientContext c;
    v1::GetDeviceRequest g;
    g.set_name("devices/" + id);
    v1::Device d;
    (void)pair_.devices(source).GetDevice(Ctx(c), g, &d);
    return d;
  }

  void Detach(const std::string& id) {
    for (bool source : {true, false}) {
      grpc::ClientContext c;
      v1::DetachDeviceRequest d;
      d.set_name("devices/" + id);
      v1::DetachDeviceResponse resp;
      (void)pair_.devices(source).DetachDevice(Ctx(c), d, &resp);
    }
  }

  const Options& o_;
  DaemonPair& pair_;
  std::vector<std::string> ids_;
  std::vector<uint64_t> before_;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int RunSurvive(const std::vector<std::string>& args) {
  Options o;
  if (int rc = Parse(args, o); rc >= 0) return rc;
  PairOptions po;
  po.zero_copy = o.zero_copy;
  po.state_dirs = true;  // a restarted daemon recovers its journal
  po.liveness_ms = kLivenessMs;
  absl::StatusOr<std::unique_ptr<DaemonPair>> pair =
      DaemonPair::Start(o.vmigd, po);
  if (!pair.ok()) {
    std::fprintf(stderr, "survive: %s\n", pair.status().ToString().c_str());
    return 1;
  }
  std::mt19937_64 rng(o.seed);
  std::map<std::string, std::map<std::string, int>> by_point;
  std::map<std::string, int> by_outcome;
  int crashes = 0, violations = 0;
  std::vector<double> reconnects;
  nlohmann::json violation_list = nlohmann::json::array();
  const auto t0 = Clock::now();
  for (int n = 1; n <= o.kills; ++n) {
    Campaign campaign(o, **pair);
    const Round r = campaign.Run(n, rng);
    const std::string victim = r.source_victim ? "source" : "destination";
    std::printf(
        "%4d kill %-11s at %-8s (source %s): %s\n", n, victim.c_str(),
        r.point.c_str(), r.landed.c_str(),
        !r.survived ? ("SURVIVOR DIED: " + r.death).c_str()
        : !r.violation.empty()
            ? ("VIOLATION: " + r.violation).c_str()
            : absl::StrCat(r.outcome.empty() ? "idle" : r.outcome,
                           ", link back in ",
                           static_cast<int>(r.reconnect_s * 1000), " ms")
                  .c_str());
    std::fflush(stdout);
    ++by_point[r.point][victim];
    if (!r.outcome.empty()) ++by_outcome[r.outcome];
    if (r.reconnect_s >= 0) reconnects.push_back(r.reconnect_s);
    if (!r.survived) ++crashes;
    if (!r.violation.empty() || !r.survived) {
      ++violations;
      violation_list.push_back(absl::StrCat(
          n, ": ", !r.survived ? "survivor died: " + r.death : r.violation));
      // Go on with a fresh pair: the campaign counts, it does not stop.
      pair->reset();
      pair = DaemonPair::Start(o.vmigd, po);
      if (!pair.ok()) {
        std::fprintf(stderr, "survive: %s\n", pair.status().ToString().c_str());
        return 1;
      }
    }
  }
  const bool pass = violations == 0;
  std::printf(
      "%d kills: %d survivors died, %d violations; link back in %.0f ms "
      "(median; max %.0f ms) after a restart, in %.0f s: %s\n",
      o.kills, crashes, violations - crashes, Median(reconnects) * 1000,
      reconnects.empty()
          ? 0.0
          : *std::max_element(reconnects.begin(), reconnects.end()) * 1000,
      Since(t0), pass ? "PASS" : "FAIL");
  nlohmann::json j;
  j["kills"] = o.kills;
  j["survivor_crashes"] = crashes;
  j["violations"] = violations - crashes;
  j["violation_list"] = violation_list;
  j["by_point"] = by_point;
  j["by_outcome"] = by_outcome;
  j["reconnect_ms_median"] = Median(reconnects) * 1000;
  j["reconnect_ms_max"] =
      reconnects.empty()
          ? 0.0
          : *std::max_element(reconnects.begin(), reconnects.end()) * 1000;
  j["zero_copy"] = o.zero_copy;
  j["seconds"] = Since(t0);
  j["pass"] = pass;
  std::printf("%s\n", j.dump().c_str());
  return pass ? 0 : 1;
}

}  // namespace vmig::bench
