#include "bench/daemon_pair.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/subprocess.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/convert.h"
#include "vfio/emu/spec.h"

namespace vmig::bench {
namespace {

grpc::ClientContext* Ctx(grpc::ClientContext& c, int seconds = 120) {
  c.set_deadline(std::chrono::system_clock::now() +
                 std::chrono::seconds(seconds));
  return &c;
}

// A waitpid status as the campaign reports it ("killed by signal 11").
std::string HowItEnded(int status) {
  return WIFSIGNALED(status)
             ? absl::StrCat("killed by signal ", WTERMSIG(status))
             : absl::StrCat("exited ", WEXITSTATUS(status));
}

bool Terminal(v1::Phase p) {
  return p == v1::PHASE_COMPLETED || p == v1::PHASE_FAILED ||
         p == v1::PHASE_CANCELLED;
}

}  // namespace

std::string FindVmigd() {
  std::error_code ec;
  const auto self =
      std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  for (const auto& p :
       {self / "../control/server/vmigd", self / "vmigd",
        self / "../sbin/vmigd", std::filesystem::path("/usr/sbin/vmigd")}) {
    if (std::filesystem::exists(p, ec))
      return std::filesystem::canonical(p, ec).string();
  }
  return "vmigd";
}

absl::StatusOr<std::unique_ptr<DaemonPair>> DaemonPair::Start(
    const std::string& vmigd, int workers) {
  PairOptions o;
  o.workers = workers;
  return Start(vmigd, o);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> DaemonPair::Spawn1(
    const std::string& conf, const std::string& sock, const std::string& log,
    pid_t* pid) {
  *pid = Spawn({vmigd_, "--config", conf}, {}, "/dev/null", log);
  if (*pid < 0)
    return absl::UnavailableError(absl::StrCat("cannot start ", vmigd_));
  auto ch =
      grpc::CreateChannel("unix://" + sock, grpc::InsecureChannelCredentials());
  for (int i = 0; i < 400; ++i) {
    if (std::filesystem::exists(sock) &&
        ch->WaitForConnected(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(50))) {
      return ch;
    }
    // A daemon that ended before it answered: how it ended is the finding
    // (a restart once "hung" with an empty log: it had died).
    int status = 0;
    if (waitpid(*pid, &status, WNOHANG) == *pid) {
      *pid = -1;
      return absl::UnavailableError(
          absl::StrCat("vmigd ", HowItEnded(status),
                       " before it answered; its log: ", ReadFileOrEmpty(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Still running but not answering: where its threads are says why.
  return absl::UnavailableError(
      absl::StrCat("vmigd did not come up within 40 s: ", ReadFileOrEmpty(log),
                   "\nits threads:\n", DescribeThreads(*pid)));
}

absl::StatusOr<std::unique_ptr<DaemonPair>> DaemonPair::Start(
    const std::string& vmigd, const PairOptions& o) {
  std::unique_ptr<DaemonPair> p(new DaemonPair());
  p->vmigd_ = vmigd;
  char tmpl[] = "/tmp/vmig-bench-pair-XXXXXX";
  p->dir_ = mkdtemp(tmpl);
  const std::string d = p->dir_;
  const std::string src_conf = d + "/source.conf", dst_conf = d + "/dest.conf";
  // One worker: the source's on core 1, the destination's on core 0. More:
  // lcores 1..workers with main lcore 0, sharing every CPU.
  auto lcores = [&](bool source) {
    if (o.workers <= 1) {
      return std::string(source ? "lcores: \"1\" main_lcore: 0"
                                : "lcores: \"0\" main_lcore: 1");
    }
    return absl::StrCat("lcores: \"1-", o.workers,
                        "\" main_lcore: 0 cpu_set: \"0-",
                        std::thread::hardware_concurrency() - 1, "\"");
  };
  // Each its own state directory: a restarted daemon recovers its devices
  // and sessions as a restarted production daemon does.
  auto state_dir = [&](const char* name) {
    return o.state_dirs ? absl::StrCat("state_dir: \"", d, "/", name, "\"\n")
                        : std::string();
  };
  const std::string calibration =
      o.calibration_file.empty()
          ? std::string()
          : absl::StrCat("calibration_file: \"", o.calibration_file, "\"\n");
  const std::string liveness =
      o.liveness_ms > 0
          ? absl::StrCat(" heartbeat_interval_ms: 200 liveness_timeout_ms: ",
                         o.liveness_ms, " ")
          : std::string();
  std::ofstream(src_conf)
      << calibration << state_dir("source-state")
      << (liveness.empty() ? "" : "peer { " + liveness + "}\n")
      << "listen { unix_socket: \"" << d << "/source.sock\" }\n"
      << "allow_emulated_devices: true\n"  // the benchmark's devices
      << "dataplane { " << lcores(true) << " " << o.dataplane_extra
      << " ports { name: \"p\" "
      << "ipv4: \"169.254.77.1\" memif: \"role=client,socket=" << d
      << "/memif.sock,socket-abstract=no"
      << (o.zero_copy ? ",zero-copy=yes" : "") << "\" } }\n";
  std::ofstream(dst_conf)
      << calibration << state_dir("dest-state") << "listen { unix_socket: \""
      << d << "/dest.sock\" }\n"
      << "allow_emulated_devices: true\n"
      // Both daemons on this host: the source is its peer over the socket.
      << "peer { allow_unix_peers: true " << liveness << "}\n"
      << "dataplane { " << lcores(false) << " " << o.dataplane_extra
      << " ports { name: \"p\" "
      << "ipv4: \"169.254.77.2\" memif: \"role=server,socket=" << d
      << "/memif.sock,socket-abstract=no\" } }\n";
  // The destination is the memif server: it creates the socket that the
  // source, the client, connects to.
  auto dst =
      p->Spawn1(dst_conf, d + "/dest.sock", d + "/dest.log", &p->dst_pid_);
  if (!dst.ok()) return dst.status();
  auto src =
      p->Spawn1(src_conf, d + "/source.sock", d + "/source.log", &p->src_pid_);
  if (!src.ok()) return src.status();
  p->src_dev_ = v1::DeviceService::NewStub(*src);
  p->src_mig_ = v1::MigrationService::NewStub(*src);
  p->dst_dev_ = v1::DeviceService::NewStub(*dst);
  p->dst_mig_ = v1::MigrationService::NewStub(*dst);
  p->dst_health_ = grpc::health::v1::Health::NewStub(*dst);
  p->src_health_ = grpc::health::v1::Health::NewStub(*src);
  p->dst_addr_ = "unix://" + d + "/dest.sock";
  // A migration asked for before the memif link is up is refused ("retry
  // once health reports vmig.dataplane SERVING"); on a loaded host the
  // client's first dial can take a while.
  if (absl::Status up = p->AwaitLinkUp("start"); !up.ok()) return up;
  return p;
}

void DaemonPair::StopDestination(bool kill_it) {
  if (dst_pid_ <= 0) return;
  ::kill(dst_pid_, kill_it ? SIGKILL : SIGTERM);
  WaitExit(dst_pid_, 30);  // (kills it after 30 s)
  dst_pid_ = -1;
}

absl::Status DaemonPair::StartDestinationAgain() { return StartAgain(false); }

void DaemonPair::Kill(bool source) {
  pid_t& pid = source ? src_pid_ : dst_pid_;
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  WaitExit(pid, 30);
  pid = -1;
}

bool DaemonPair::Alive(bool source) {
  pid_t& pid = source ? src_pid_ : dst_pid_;
  if (pid <= 0) return false;
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == pid) {
    (source ? src_death_ : dst_death_) = HowItEnded(status);
    pid = -1;
    return false;
  }
  grpc::ClientContext c;
  grpc::health::v1::HealthCheckResponse resp;
  return (source ? src_health_ : dst_health_)
      ->Check(Ctx(c, 5), grpc::health::v1::HealthCheckRequest(), &resp)
      .ok();
}

bool DaemonPair::LinkUpBothEnds() {
  for (auto* h : {src_health_.get(), dst_health_.get()}) {
    grpc::ClientContext c;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service("vmig.dataplane");
    grpc::health::v1::HealthCheckResponse resp;
    if (!h->Check(Ctx(c, 5), req, &resp).ok() ||
        resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      return false;
    }
  }
  return true;
}

absl::Status DaemonPair::StartAgain(bool source) {
  Kill(source);
  const std::string name = source ? "source" : "dest";
  // The restarted daemon logs to a fresh file; the old one is kept.
  std::filesystem::rename(absl::StrCat(dir_, "/", name, ".log"),
                          absl::StrCat(dir_, "/", name, ".log.", ++restarts_));
  auto ch = Spawn1(absl::StrCat(dir_, "/", name, ".conf"),
                   absl::StrCat(dir_, "/", name, ".sock"),
                   absl::StrCat(dir_, "/", name, ".log"),
                   source ? &src_pid_ : &dst_pid_);
  if (!ch.ok()) return ch.status();
  (source ? src_dev_ : dst_dev_) = v1::DeviceService::NewStub(*ch);
  (source ? src_mig_ : dst_mig_) = v1::MigrationService::NewStub(*ch);
  (source ? src_health_ : dst_health_) = grpc::health::v1::Health::NewStub(*ch);
  // Both ends must see the link up again (the memif client redials).
  return AwaitLinkUp(absl::StrCat(name, "'s restart"));
}

absl::Status DaemonPair::AwaitLinkUp(const std::string& after) {
  for (int i = 0; i < 300; ++i) {
    if (LinkUpBothEnds()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::UnavailableError(absl::StrCat(
      "the data-plane link was not up at both ends within 30 s of the ",
      after));
}

grpc::Status DaemonPair::Cancel(const std::string& session) {
  grpc::ClientContext c;
  v1::CancelRequest req;
  req.set_name("sessions/" + session);
  v1::Session reply;
  return src_mig_->Cancel(Ctx(c, 30), req, &reply);
}

v1::Session DaemonPair::SessionOf(const std::string& session, bool source) {
  grpc::ClientContext c;
  v1::GetSessionRequest g;
  g.set_name("sessions/" + session);
  v1::Session s;
  (void)(source ? src_mig_ : dst_mig_)->GetSession(Ctx(c, 30), g, &s);
  return s;
}

std::vector<std::string> DaemonPair::AttachedDevices(bool source) {
  grpc::ClientContext c;
  v1::ListDevicesResponse resp;
  std::vector<std::string> out;
  if (!(source ? src_dev_ : dst_dev_)
           ->ListDevices(Ctx(c, 30), v1::ListDevicesRequest(), &resp)
           .ok()) {
    return {"(the daemon did not answer)"};
  }
  for (const auto& d : resp.devices()) {
    out.push_back(d.session().empty()
                      ? d.name()
                      : absl::StrCat(d.name(), " (", d.session(), ")"));
  }
  return out;
}

absl::StatusOr<ProcessResources> DaemonPair::Resources(bool source) const {
  const pid_t pid = source ? src_pid_ : dst_pid_;
  const std::string proc = absl::StrCat("/proc/", pid);
  ProcessResources r;
  std::ifstream status(proc + "/status");
  if (!status) return absl::NotFoundError(absl::StrCat("no ", proc));
  for (std::string line; std::getline(status, line);) {
    uint64_t v = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %lu kB", &v) == 1)
      r.rss_bytes = v << 10;
    if (std::sscanf(line.c_str(), "RssAnon: %lu kB", &v) == 1)
      r.rss_anon_bytes = v << 10;
    if (std::sscanf(line.c_str(), "Threads: %lu", &v) == 1)
      r.threads = static_cast<int>(v);
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(proc + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++r.fds;
  }
  std::ifstream maps(proc + "/maps");
  for (std::string line; std::getline(maps, line);) ++r.mappings;
  return r;
}

double DaemonPair::CpuSeconds() const {
  double total = 0;
  for (pid_t pid : {src_pid_, dst_pid_})
    if (pid > 0) total += ProcessCpuSeconds(pid);
  return total;
}

DaemonPair::~DaemonPair() {
  for (pid_t pid : {src_pid_, dst_pid_})
    if (pid > 0) kill(pid, SIGTERM);
  for (pid_t pid : {src_pid_, dst_pid_})
    if (pid > 0) WaitExit(pid, 10);
  // VMIG_BENCH_KEEP=1 keeps the daemons' configurations and logs.
  if (getenv("VMIG_BENCH_KEEP") != nullptr) {
    fprintf(stderr, "daemon logs kept in %s\n", dir_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void DaemonPair::DetachBoth(const std::string& id) {
  for (auto* stub : {src_dev_.get(), dst_dev_.get()}) {
    grpc::ClientContext c;
    v1::DetachDeviceRequest dr;
    dr.set_name("devices/" + id);
    v1::DetachDeviceResponse resp;
    (void)stub->DetachDevice(Ctx(c), dr, &resp);
  }
}

std::string DestSpecFor(const vfio::emu::EmuSpec& spec, size_t i) {
  return absl::StrCat(
      "emu:state=", spec.state_bytes, ",block=", spec.block_bytes,
      ",flags=", spec.flags.ToString(),
      ",transition_ms=", absl::ToDoubleMilliseconds(spec.transition),
      ",seed=", 1000 + i);
}

absl::StatusOr<v1::Device> DaemonPair::DescribeClass(bool source,
                                                     const std::string& spec) {
  const std::string id = absl::StrCat("class-look-", ++sessions_);
  v1::AttachDeviceRequest a;
  a.set_device_id(id);
  a.set_emulated_spec(spec);
  grpc::ClientContext c;
  v1::Device d;
  auto& stub = source ? src_dev_ : dst_dev_;
  absl::Status s = FromGrpc(stub->AttachDevice(Ctx(c), a, &d), "attach");
  grpc::ClientContext c2;
  v1::DetachDeviceRequest dr;
  dr.set_name("devices/" + id);
  v1::DetachDeviceResponse resp;
  (void)stub->DetachDevice(Ctx(c2), dr, &resp);
  if (!s.ok()) return s;
  return d;
}

absl::StatusOr<MigrationOutcome> DaemonPair::Migrate(
    const std::vector<std::string>& ids, const std::vector<std::string>& specs,
    v1::StartMigrationRequest request, const MigrateOptions& options) {
  // A device whose workload dirties it changes its own state while it
  // runs (the digest follows the time it ran): for it, intact is RUNNING.
  std::vector<bool> self_changing(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto spec = vfio::emu::ParseEmuSpec(specs[i]);
    if (!spec.ok()) return spec.status();
    self_changing[i] = spec->dirty_bytes_per_s > 0;
    for (bool source : {true, false}) {
      v1::AttachDeviceRequest a;
      a.set_device_id(ids[i]);
      a.set_emulated_spec(source ? specs[i]
                          : i < options.dest_specs.size()
                              ? options.dest_specs[i]
                              : DestSpecFor(*spec, i));
      grpc::ClientContext c;
      v1::Device d;
      auto& stub = source ? src_dev_ : dst_dev_;
      if (auto s = FromGrpc(stub->AttachDevice(Ctx(c), a, &d), "attach");
          !s.ok())
        return s;
    }
  }
  const std::string session = absl::StrCat("bench", ++sessions_);
  v1::PrepareIncomingRequest prep;
  prep.set_session_id(session);
  for (const auto& id : ids) prep.add_devices(id);
  {
    grpc::ClientContext c;
    v1::Session s;
    if (auto st =
            FromGrpc(dst_mig_->PrepareIncoming(Ctx(c), prep, &s), "prepare");
        !st.ok()) {
      return st;
    }
  }
  request.set_session_id(session);
  request.set_peer(dst_addr_);
  request.clear_devices();
  for (const auto& id : ids) {
    auto* m = request.add_devices();
    m->set_source(id);
    m->set_destination(id);
  }
  auto digests = [&] {
    std::vector<std::string> out;
    for (size_t i = 0; i < ids.size(); ++i) {
      v1::GetDeviceRequest g;
      g.set_name("devices/" + ids[i]);
      v1::Device d;
      grpc::ClientContext c;
      (void)src_dev_->GetDevice(Ctx(c), g, &d);
      out.push_back(d.state() != v1::DEVICE_STATE_RUNNING ? "not running"
                    : self_changing[i]                    ? "running"
                                       : absl::StrCat(d.emulated_digest()));
    }
    return out;
  };
  const std::vector<std::string> before =
      options.accept_failure ? digests() : std::vector<std::string>{};
  const double cpu_before = CpuSeconds();
  {
    grpc::ClientContext c;
    v1::Session s;
    if (auto st =
            FromGrpc(src_mig_->StartMigration(Ctx(c), request, &s), "start");
        !st.ok()) {
      return st;
    }
  }
  MigrationOutcome out;
  const auto started = std::chrono::steady_clock::now();
  std::thread during;
  if (options.during) during = std::thread(options.during, session);
  for (int i = 0; i < 60000 && !Terminal(out.source.phase()); ++i) {
    grpc::ClientContext c;
    v1::GetSessionRequest g;
    g.set_name("sessions/" + session);
    (void)src_mig_->GetSession(Ctx(c), g, &out.source);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (during.joinable()) during.join();
  if (options.after_end) options.after_end(session);
  if (out.source.phase() != v1::PHASE_COMPLETED && options.accept_failure) {
    out.completed = false;
    const std::vector<std::string> after = digests();
    out.source_intact = after == before;
    out.committed = out.source.committed();
    out.source_stopped =
        std::all_of(after.begin(), after.end(),
                    [](const std::string& d) { return d == "not running"; });
    for (const auto& id : ids) DetachBoth(id);
    return out;
  }
  if (out.source.phase() != v1::PHASE_COMPLETED) {
    return absl::AbortedError(absl::StrCat("migration ", session, " ended ",
                                           v1::Phase_Name(out.source.phase()),
                                           ": ", out.source.error()));
  }
  out.total_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  for (const auto& d : out.source.devices()) out.bytes += d.bytes_transferred();
  out.cpu_seconds = CpuSeconds() - cpu_before;
  out.verified = true;
  for (const auto& id : ids) {
    v1::GetDeviceRequest g;
    g.set_name("devices/" + id);
    v1::Device s, t;
    grpc::ClientContext c1, c2;
    (void)src_dev_->GetDevice(Ctx(c1), g, &s);
    (void)dst_dev_->GetDevice(Ctx(c2), g, &t);
    out.verified = out.verified && s.emulated_digest() == t.emulated_digest() &&
                   t.state() == v1::DEVICE_STATE_RUNNING;
    DetachBoth(id);
  }
  return out;
}

absl::Duration SwitchoverStall(const StallSentinel& sentinel,
                               const MigrationOutcome& out) {
  const absl::Time end = FromProto(out.source.update_time());
  return sentinel.LongestIn(
      end - FromProto(out.source.report().downtime()) - absl::Milliseconds(20),
      end);
}

}  // namespace vmig::bench
