// vmigd: the per-host VFIO live-migration agent.
#include <malloc.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fmt_absl.h"
#include "control/server/dataplane_setup.h"
#include "control/server/grpc_peer_client.h"
#include "control/server/link_monitor.h"
#include "control/server/logging.h"
#include "control/server/reflection_v1.h"
#include "control/server/server.h"
#include "control/server/services.h"
#include "control/server/watchdog_gate.h"
#include "daemon/config.h"
#include "daemon/device_registry.h"
#include "daemon/journal.h"
#include "daemon/measures/calibration_file.h"
#include "daemon/session/daemon_metrics.h"
#include "daemon/session/session_manager.h"
#include "daemon/session_record.h"
#include "dataplane/eal.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/health_check_service_interface.h"
#include "metrics/http_endpoint.h"
#include "metrics/registry.h"
#include "spdlog/spdlog.h"
#include "vfio/transition_log.h"

namespace {

struct Args {
  std::string config;
  std::vector<std::string> overrides;
  bool check = false;
  bool quiet = false;
};

// The command line, parsed by CLI11 (Debian's libcli11-dev, the parser
// vmigctl and vmig-bench use too): per-option help, unknown arguments
// named, --version. Returns -1 to go on, else the exit code (0 after
// --help or --version, 2 for a usage error).
int ParseArgs(int argc, char** argv, Args& a) {
  CLI::App app{
      "vmigd: the per-host VFIO live-migration agent.\n\n"
      "Signals: SIGTERM/SIGINT shut down gracefully (active migrations are\n"
      "cancelled and source devices return to RUNNING); SIGHUP re-reads the\n"
      "configuration's log_level. See vmigd(8) and vmigd.conf(5).",
      "vmigd"};
  app.set_version_flag("--version", std::string("vmigd ") + VMIG_VERSION);
  std::string check_file;
  app.add_option("--config", a.config,
                 "configuration (protobuf text format, see "
                 "/etc/vmigd/vmigd.conf.example)")
      ->type_name("FILE");
  app.add_option("--check-config", check_file,
                 "validate, print the effective configuration and its "
                 "digest, exit")
      ->type_name("FILE");
  app.add_option("--set", a.overrides,
                 "override options, in the same format, e.g. --set "
                 "'log_level: LOG_LEVEL_DEBUG'")
      ->type_name("TEXT")
      ->take_all()
      ->allow_extra_args(false);
  app.add_flag("--quiet", a.quiet,
               "with --check-config: one line, no values (the unit's start "
               "and reload checks)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (!check_file.empty()) {
    a.config = check_file;
    a.check = true;
  }
  return -1;
}

void Notify(const std::string& msg) { sd_notify(0, msg.c_str()); }

// "3 sessions, 1 migrating; link up": the sessions the daemon keeps (its
// finished ones included), those not yet ended, and the data plane's link.
std::string StatusLine(const std::vector<vmig::v1::Session>& sessions,
                       int link) {
  size_t running = 0;
  for (const auto& s : sessions) {
    if (!vmig::daemon::IsTerminal(s.phase())) ++running;
  }
  return absl::StrCat(sessions.size(),
                      sessions.size() == 1 ? " session, " : " sessions, ",
                      running, " migrating; ",
                      link < 0   ? "no data plane"
                      : link > 0 ? "link up"
                                 : "link down");
}

// One line per arc the devices take (a kernel device's per request), for
// lockstep checks across
// daemons: "device from to start_ns end_ns ok".
void LogTransitionsTo(const std::string& path) {
  std::FILE* out = std::fopen(path.c_str(), "a");
  if (!out) {
    spdlog::error("emu_transition_log: cannot open {}", path);
    return;
  }
  vmig::vfio::TransitionLog::Global().SetSink(
      [out](const vmig::vfio::ArcRecord& r) {
        std::fprintf(out, "%s %s %s %lld %lld %d\n", r.device.c_str(),
                     std::string(vmig::vfio::DeviceStateName(r.from)).c_str(),
                     std::string(vmig::vfio::DeviceStateName(r.to)).c_str(),
                     static_cast<long long>(r.start_ns),
                     static_cast<long long>(r.end_ns), r.ok ? 1 : 0);
        std::fflush(out);
      });
}

}  // namespace

// After a restart: the devices attached through the API come back, and the
// sessions the journal knew end (their devices driven to a safe state).
static void RecoverFromJournal(const vmig::v1::DaemonConfig& config,
                               vmig::daemon::Journal& journal,
                               vmig::daemon::DeviceRegistry& devices,
                               vmig::daemon::SessionManager& sessions) {
  for (const auto& [id, req] : journal.recovered().devices) {
    bool configured = false;
    for (const auto& d : config.devices())
      configured = configured || d.device_id() == id;
    if (configured) continue;
    if (auto r = devices.Attach(req); !r.ok()) {
      spdlog::warn("journal: device {} not attached again: {}", id,
                   r.status().message());
    }
  }
  devices.set_journal(&journal);
  sessions.set_journal(&journal);
  sessions.Restore(journal.recovered());
}

int main(int argc, char** argv) {
  Args args;
  if (int rc = ParseArgs(argc, argv, args); rc >= 0) return rc;

  absl::StatusOr<vmig::v1::DaemonConfig> config =
      vmig::daemon::LoadConfig(args.config, args.overrides);
  if (!config.ok()) {
    std::cerr << "vmigd: " << config.status().message() << "\n";
    return 1;
  }
  const std::string digest = vmig::daemon::ConfigDigest(*config);
  if (args.check) {
    if (args.quiet) {
      std::cout << "vmigd: configuration " << args.config
                << " is valid (digest " << digest << ")\n";
      return 0;
    }
    std::string text;
    google::protobuf::TextFormat::PrintToString(*config, &text);
    std::cout << "# configuration is valid (digest " << digest
              << "); effective values:\n"
              << text;
    return 0;
  }

  // Device state buffers (megabytes each, one set per migration) are
  // mapped and unmapped on their own rather than carved from glibc's
  // per-thread arenas, whose dynamic threshold would otherwise keep them
  // and fragment: a soak showed a daemon's RSS creep by ~50 KiB a migration.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // Signals are taken synchronously by the main thread, so block them
  // before any other thread (gRPC's) starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  vmig::server::InitLogging(config->log_level());
  if (!config->emu_transition_log().empty())
    LogTransitionsTo(config->emu_transition_log());
  absl::StatusOr<vmig::server::Transports> transports =
      vmig::server::StartDataplane(*config);
  if (!transports.ok()) {
    spdlog::critical("data plane: {}", transports.status().message());
    return 1;
  }
  std::vector<vmig::dataplane::Transport*> ports;
  for (const auto& t : *transports) ports.push_back(t.get());
  vmig::daemon::DeviceRegistry devices(
      config->limits().max_devices(),
      {config->allow_emulated_devices(), config->limits().max_memory_bytes()});
  std::unique_ptr<vmig::daemon::Journal> journal;
  if (!config->state_dir().empty()) {
    absl::StatusOr<std::unique_ptr<vmig::daemon::Journal>> j =
        vmig::daemon::Journal::Open(config->state_dir());
    if (!j.ok()) {
      spdlog::critical("state_dir: {}", j.status().message());
      return 1;
    }
    journal = std::move(*j);
    devices.set_emu_state_dir(config->state_dir() + "/emu");
  }
  // The metrics page's registry and the daemon's families on it: sessions
  // and peer clients tell them their events (declared before both, so
  // that they outlive them).
  vmig::metrics::Registry metrics_registry;
  vmig::daemon::DaemonMetrics daemon_metrics(metrics_registry);
  absl::StatusOr<vmig::daemon::PeerClientFactory> peer_clients =
      vmig::server::MakeGrpcPeerClientFactory(*config, daemon_metrics);
  if (!peer_clients.ok()) {
    spdlog::critical("{}", peer_clients.status().message());
    return 1;
  }
  vmig::daemon::SessionManager sessions(
      devices, config->limits(), ports, *peer_clients, {}, vmig::Clock::Real(),
      vmig::daemon::PeerDeadlinesOf(config->peer()).liveness);
  sessions.set_events(&daemon_metrics);
  // What the daemon knows of device classes: a calibration file's figures
  // (checked with the configuration), then its own history, which refines
  // them and is written back as it learns.
  if (!config->calibration_file().empty()) {
    absl::StatusOr<vmig::v1::Calibration> cal =
        vmig::daemon::ReadCalibrationFile(config->calibration_file());
    if (!cal.ok()) {
      spdlog::critical("calibration_file: {}", cal.status().message());
      return 1;
    }
    sessions.history().LearnCalibration(*cal);
    spdlog::info("calibration: {} device classes from {} ({}, {}, {})",
                 cal->classes_size(), config->calibration_file(),
                 cal->provenance().host(), cal->provenance().cpu(),
                 cal->provenance().date());
  }
  if (!config->state_dir().empty()) {
    if (absl::Status s = sessions.history().PersistTo(config->state_dir() +
                                                      "/history.textproto");
        !s.ok())
      spdlog::warn("history: {}", s.message());
  }
  for (const auto& d : config->devices()) {
    if (auto r = devices.Attach(d); !r.ok()) {
      spdlog::critical("configuration: device {}: {}", d.device_id(),
                       r.status().message());
      return 1;
    }
  }
  if (journal) RecoverFromJournal(*config, *journal, devices, sessions);
  vmig::server::DeviceServiceImpl device_service(devices, &sessions.history());
  vmig::server::MigrationServiceImpl migration_service(sessions);
  vmig::server::PeerServiceImpl peer_service(
      sessions, vmig::server::PeerAuthorizer(config->peer()));
  vmig::server::DataplaneServiceImpl dataplane_service(ports, sessions);
  // The API's services: each reported healthy by its name, and listed by
  // reflection v1 (beside gRPC's own v1alpha) with health and reflection.
  const std::vector<std::string> api = {
      vmig::v1::DeviceService::service_full_name(),
      vmig::v1::MigrationService::service_full_name(),
      vmig::v1::PeerService::service_full_name(),
      vmig::v1::DataplaneService::service_full_name()};
  std::vector<std::string> offered = api;
  offered.insert(
      offered.end(),
      {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
       grpc::reflection::v1::ServerReflection::service_full_name()});
  vmig::server::ReflectionV1Service reflection_v1(offered);
  auto server = vmig::server::StartServer(
      *config, {&device_service, &migration_service, &peer_service,
                &dataplane_service, &reflection_v1});
  if (!server.ok()) {
    spdlog::critical("{}", server.status().message());
    return 1;
  }
  // Health per service: "" is the daemon, each API service by its full
  // name, and kDataplaneHealthService its data plane (every port's link
  // up), reported apart.
  grpc::HealthCheckServiceInterface* health =
      (*server)->GetHealthCheckService();
  if (health) {
    for (const std::string& service : api)
      health->SetServingStatus(service, true);
  }
  std::unique_ptr<vmig::server::LinkMonitor> links;
  // -1: no data plane; 0 down; 1 up (for STATUS=).
  auto link_state = std::make_shared<std::atomic<int>>(ports.empty() ? -1 : 0);
  if (!ports.empty()) {
    links = std::make_unique<vmig::server::LinkMonitor>(
        ports, [health, link_state](bool up) {
          link_state->store(up ? 1 : 0);
          if (health)
            health->SetServingStatus(vmig::server::kDataplaneHealthService, up);
        });
  }
  // The metrics page (off unless configured): the daemon's families and
  // collectors over the sessions and the data plane.
  auto collectors =
      vmig::daemon::AddDaemonCollectors(metrics_registry, sessions, ports);
  std::unique_ptr<vmig::metrics::HttpEndpoint> metrics_endpoint;
  if (!config->metrics().listen_address().empty()) {
    auto e = vmig::metrics::HttpEndpoint::Start(
        config->metrics().listen_address(),
        [&metrics_registry] { return metrics_registry.Render(); });
    if (!e.ok()) {
      spdlog::critical("{}", e.status().message());
      return 1;
    }
    metrics_endpoint = std::move(*e);
    spdlog::info("metrics on http://{}/metrics (port {})",
                 config->metrics().listen_address(), metrics_endpoint->port());
  }
  const std::string where =
      absl::StrCat("unix:", config->listen().unix_socket(),
                   config->listen().tcp_address().empty()
                       ? ""
                       : absl::StrCat(", ", config->listen().tcp_address()));
  spdlog::info("vmigd serving on {} with {} devices", where,
               config->devices_size());
  // The configuration once, as a digest: `vmigd --check-config FILE` prints
  // its values with the same digest.
  spdlog::info("configuration {}: digest {}",
               args.config.empty() ? "(defaults)" : args.config, digest);
  Notify(absl::StrCat("READY=1\nSTATUS=serving on ", where));

  uint64_t watchdog_usec = 0;
  const bool watchdog =
      sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  const int64_t tick_ms =
      watchdog ? std::min<int64_t>(1000, watchdog_usec / 2000) : 1000;
  std::string status, unwell;
  // Pings vouch for the gRPC server and every worker, not just this loop.
  std::unique_ptr<vmig::server::WatchdogGate> gate;
  if (watchdog) {
    const absl::Duration interval = absl::Microseconds(watchdog_usec);
    gate = std::make_unique<vmig::server::WatchdogGate>(
        config->listen().unix_socket(), ports,
        vmig::server::WatchdogGate::StallFor(interval),
        std::min(absl::Seconds(2), interval / 4));
  }
  for (;;) {
    timespec ts = {static_cast<time_t>(tick_ms / 1000),
                   static_cast<long>((tick_ms % 1000) * 1000000)};
    const int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (gate) {
      // Said once when the daemon turns unwell (and once when it is well
      // again), not every tick while it stays so.
      std::string why = gate->Check(absl::Now());
      if (why.empty()) Notify("WATCHDOG=1");
      if (why.empty() != unwell.empty()) {
        if (!why.empty()) {
          spdlog::error("watchdog: not vouching for the daemon: {}", why);
        } else {
          spdlog::info("watchdog: every part alive again");
        }
        unwell = why;
      }
    }
    // What the daemon is doing, for systemctl status (sent on change).
    std::string now = StatusLine(sessions.List(), link_state->load());
    if (!unwell.empty()) now = absl::StrCat("unwell: ", unwell);
    if (now != status) {
      status = now;
      Notify("STATUS=" + status);
    }
    if (sig == SIGHUP) {
      auto again = vmig::daemon::LoadConfig(args.config, args.overrides);
      if (again.ok()) {
        vmig::server::SetLogLevel(again->log_level());
        spdlog::info("SIGHUP: log level {}",
                     vmig::v1::DaemonConfig::LogLevel_Name(again->log_level()));
      } else {
        spdlog::error("SIGHUP: configuration not reloaded: {}",
                      again.status().message());
      }
    } else if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  Notify("STOPPING=1\nSTATUS=cancelling active migrations");
  sessions.CancelAll();
  metrics_endpoint.reset();
  collectors.clear();
  links.reset();  // no redial while the ports close
  (*server)->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
  vmig::dataplane::ExposeTelemetry({});  // before the ports go
  transports->clear();
  vmig::dataplane::CleanupEal();  // no-op when no data plane was configured
  spdlog::info("vmigd stopped");
  return 0;
}
