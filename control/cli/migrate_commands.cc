#include <unistd.h>

#include <iostream>
#include <map>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/command_line.h"
#include "common/units.h"
#include "control/cli/commands.h"
#include "control/cli/output.h"
#include "proto/convert.h"
#include "vmig/v1/migration.grpc.pb.h"

namespace vmig::cli {
namespace {

constexpr char kMigrateUsage[] =
    "usage: vmigctl migrate COMMAND [ARGS...]\n"
    "\n"
    "  prepare SESSION --device ID [--device ID]... [--data-endpoint PORT]\n"
    "          [--leave-stopped] [--request-id ID]  destination side\n"
    "  start SESSION --peer ADDR --map SRC=DST [--map SRC=DST]...\n"
    "        --budget DURATION [--max-precopy DURATION] [--on-timeout "
    "switch|fail]\n"
    "        [--manual] [--allow-overrun] [--data-endpoint ADDR]\n"
    "        [--max-bandwidth RATE] [--switchover-bandwidth RATE]\n"
    "        [--request-id ID]\n"
    "                                               source side\n"
    "    --request-id: a retry with the same SESSION and ID returns the\n"
    "    session the first call made\n"
    "    --allow-overrun: switch over even when the prediction's bound\n"
    "    exceeds the budget (otherwise such a session fails, naming the\n"
    "    smallest downtime it could promise, and the source runs on)\n"
    "    --max-bandwidth, --switchover-bandwidth: caps before and from the\n"
    "    switchover, a rate such as 200MB/s or 64MiB/s; 0: no cap beyond\n"
    "    the port's\n"
    "  update SESSION [--budget DURATION] [--max-precopy DURATION]\n"
    "         [--on-timeout switch|fail] [--allow-overrun|--no-allow-overrun]\n"
    "         [--max-bandwidth RATE] [--switchover-bandwidth RATE]\n"
    "                     a source session's policy, before its switchover\n"
    "  switchover SESSION\n"
    "  cancel SESSION\n"
    "  resolve SESSION --resume-source|--destination-owns\n"
    "                     an operator's decision for a session IN_DOUBT\n"
    "  status SESSION\n"
    "  list\n"
    "  watch SESSION      live progress per device, then the final report\n"
    "  wait SESSION [--for completed|ended]\n"
    "                     until the session ends; exit 0 if it COMPLETED\n"
    "\n"
    "Run 'vmigctl migrate COMMAND --help' for one command's options.\n";

// One command's own help: what it does, its arguments and its exit code.
const std::map<std::string, std::string>& CommandHelp() {
  static const auto* help = new std::map<std::string, std::string>{
      {"prepare",
       "usage: vmigctl migrate prepare SESSION --device ID [--device ID]...\n"
       "                               [--data-endpoint PORT] "
       "[--leave-stopped]\n"
       "                               [--request-id ID]\n\n"
       "Destination side: claims the devices and moves them to RESUMING for\n"
       "the source that will start SESSION. --request-id makes a retry of a\n"
       "call whose answer was lost return the same session.\n"},
      {"start",
       "usage: vmigctl migrate start SESSION --peer ADDR --map SRC=DST...\n"
       "                             --budget DURATION [--max-precopy "
       "DURATION]\n"
       "                             [--on-timeout switch|fail] [--manual]\n"
       "                             [--allow-overrun] [--data-endpoint "
       "PORT]\n"
       "                             [--max-bandwidth RATE]\n"
       "                             [--switchover-bandwidth RATE]\n"
       "                             [--request-id ID]\n\n"
       "Source side: migrates the mapped devices to the destination daemon\n"
       "at ADDR, switching over once the prediction's bound fits the budget\n"
       "(--manual: once 'migrate switchover' is called). A budget the\n"
       "devices cannot meet fails the session at once, naming the smallest\n"
       "downtime it could promise; --allow-overrun switches over anyway and\n"
       "the report says so. --max-bandwidth caps what the session sends\n"
       "before its switchover, --switchover-bandwidth from then on (RATE in\n"
       "a rate: 200MB/s, 64MiB/s; 0 for none); the prediction uses the\n"
       "latter. Past limits.max_outgoing_sessions the session waits QUEUED.\n"
       "Exit 1 if the session shown has FAILED.\n"},
      {"update",
       "usage: vmigctl migrate update SESSION [--budget DURATION]\n"
       "                              [--max-precopy DURATION]\n"
       "                              [--on-timeout switch|fail]\n"
       "                              [--allow-overrun|--no-allow-overrun]\n"
       "                              [--max-bandwidth RATE]\n"
       "                              [--switchover-bandwidth RATE]\n\n"
       "Changes a source session's budget, pre-copy policy and caps before\n"
       "its switchover (UpdateSession); the next decision and the next frame\n"
       "use them.\n"},
      {"switchover",
       "usage: vmigctl migrate switchover SESSION\n\n"
       "Manual mode: switches the session over now.\n"},
      {"cancel",
       "usage: vmigctl migrate cancel SESSION\n\n"
       "Cancels a session that has not begun its commit; the source's\n"
       "devices return to RUNNING.\n"},
      {"resolve",
       "usage: vmigctl migrate resolve SESSION "
       "--resume-source|--destination-owns\n\n"
       "An operator's decision for a session IN_DOUBT (the commit's answer\n"
       "was lost): resume the source's devices, or leave them stopped\n"
       "because the destination runs them.\n"},
      {"status",
       "usage: vmigctl migrate status SESSION\n\n"
       "The session and, once it switched over, its downtime report. Exit 1\n"
       "if it has FAILED.\n"},
      {"list", "usage: vmigctl migrate list\n\nEvery session of the daemon.\n"},
      {"watch",
       "usage: vmigctl migrate watch SESSION\n\n"
       "Live progress until the session ends: bytes, rates, the prediction\n"
       "and its bound against the budget, the time left and why it waits;\n"
       "then the report. -o json: one event per line. Exit 0 if it\n"
       "COMPLETED.\n"},
      {"wait",
       "usage: vmigctl migrate wait SESSION [--for completed|ended]\n\n"
       "Blocks until the session ends (--for ended, the default) or until\n"
       "it has COMPLETED (--for completed: a session that ends otherwise is\n"
       "an error at once). Exit 0 if it COMPLETED, 1 if it FAILED or was\n"
       "CANCELLED.\n"}};
  return *help;
}

int Usage(const std::string& why) {
  std::cerr << "vmigctl migrate: " << why << "\n" << kMigrateUsage;
  return 2;
}

std::string SessionName(const std::string& id) {
  return absl::StartsWith(id, "sessions/") ? id : "sessions/" + id;
}

void PrintSession(const GlobalOptions& g, const v1::Session& s) {
  if (g.output != "table") {
    std::cout << Render(g.output, s);
    return;
  }
  PrintTable(std::cout, SessionHeader(), {SessionRow(s)});
}

// One progress line per device: a bar, bytes, rate and ETA.
std::string ProgressLine(const v1::DeviceProgress& d) {
  const double done = static_cast<double>(d.bytes_transferred());
  const double left = static_cast<double>(d.initial_bytes() + d.dirty_bytes());
  const double frac = done + left > 0 ? done / (done + left) : 0;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar =
      std::string(filled, '#') + std::string(kWidth - filled, '.');
  std::string eta = d.bytes_per_second() > 0
                        ? absl::StrFormat("%.1fs", left / d.bytes_per_second())
                        : "-";
  return absl::StrFormat("%-16s [%s] %5.1f%% %10s %12s ETA %s %s", d.device(),
                         bar, frac * 100, FormatBytes(done),
                         FormatRate(d.bytes_per_second()), eta,
                         StateName(d.state()));
}

int Watch(v1::MigrationService::Stub& stub, const GlobalOptions& g,
          const std::string& name) {
  grpc::ClientContext ctx;  // no deadline: a watch lasts as long as the session
  v1::WatchSessionRequest req;
  req.set_name(name);
  auto reader = stub.WatchSession(&ctx, req);
  v1::SessionEvent ev;
  const bool tty = isatty(STDOUT_FILENO);
  int drawn = 0;
  v1::Session last;
  while (reader->Read(&ev)) {
    last = ev.session();
    if (g.output == "json") {
      // One event per line: a stream a program can read line by line.
      std::cout << ToJson(ev, /*one_line=*/true) << "\n" << std::flush;
      continue;
    }
    if (g.output == "yaml") {
      // One YAML document per event.
      std::cout << "---\n" << ToYaml(ev) << std::flush;
      continue;
    }
    if (tty && drawn > 0) std::cout << "\x1b[" << drawn << "F\x1b[J";
    drawn = 0;
    std::cout << last.name() << "  " << PhaseText(last);
    if (last.has_predicted_downtime()) {
      std::cout << absl::StrFormat("  predicted downtime %.1f ms",
                                   ToMillis(last.predicted_downtime()));
    }
    std::cout << "\n";
    ++drawn;
    for (const std::string& line : ProgressLines(last)) {
      std::cout << "  " << line << "\n";
      ++drawn;
    }
    for (const auto& d : last.devices()) {
      std::cout << "  " << ProgressLine(d) << "\n";
      ++drawn;
    }
    std::cout << std::flush;
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return RpcFailed(s, "watch " + name);
  if (g.output == "table") PrintReport(std::cout, last);
  return last.phase() == v1::PHASE_COMPLETED ? 0 : 1;
}

// Follows the session's events until it ends; prints it as `status` does.
int Wait(v1::MigrationService::Stub& stub, const GlobalOptions& g,
         const std::string& name, bool completed_only) {
  grpc::ClientContext ctx;  // no deadline: it lasts as long as the session
  v1::WatchSessionRequest req;
  req.set_name(name);
  req.mutable_interval()->set_seconds(1);
  auto reader = stub.WatchSession(&ctx, req);
  v1::SessionEvent ev;
  v1::Session last;
  while (reader->Read(&ev)) last = ev.session();
  grpc::Status s = reader->Finish();
  if (!s.ok()) return RpcFailed(s, "wait " + name);
  PrintSession(g, last);
  if (g.output == "table") PrintReport(std::cout, last);
  if (last.phase() == v1::PHASE_COMPLETED) return 0;
  std::cerr << "vmigctl: " << name << " ended " << PhaseName(last.phase())
            << (completed_only ? ", not COMPLETED" : "")
            << (last.error().empty() ? "" : ": " + last.error()) << "\n";
  return 1;
}

}  // namespace

namespace {

// The policy options start and update share; false after a usage error
// (printed by `cl`, `*rc` set).
bool ParsePolicy(const CommandLine& cl, const std::string& budget,
                 const std::string& max_precopy, const std::string& on_timeout,
                 const std::string& max_bandwidth,
                 const std::string& switchover_bandwidth, v1::Session& want,
                 google::protobuf::FieldMask* mask, int* rc) {
  for (const auto& [flag, text, field] :
       {std::tuple{"--max-bandwidth", &max_bandwidth, "max_bandwidth"},
        std::tuple{"--switchover-bandwidth", &switchover_bandwidth,
                   "switchover_bandwidth"}}) {
    if (!cl.Given(flag)) continue;
    absl::StatusOr<double> rate = ParseRate(*text);
    if (!rate.ok()) {
      *rc = cl.Fail(absl::StrCat(flag, ": ", rate.status().message()));
      return false;
    }
    const uint64_t bytes_per_s = static_cast<uint64_t>(*rate);
    if (std::string(field) == "max_bandwidth") {
      want.set_max_bandwidth(bytes_per_s);
    } else {
      want.set_switchover_bandwidth(bytes_per_s);
    }
    if (mask) mask->add_paths(field);
  }
  absl::Duration d;
  if (cl.Given("--budget")) {
    if (!absl::ParseDuration(budget, &d)) {
      *rc = cl.Fail("--budget: bad duration '" + budget + "'");
      return false;
    }
    ToProto(d, want.mutable_downtime_budget());
    if (mask) mask->add_paths("downtime_budget");
  }
  if (cl.Given("--max-precopy")) {
    if (!absl::ParseDuration(max_precopy, &d)) {
      *rc = cl.Fail("--max-precopy: bad duration '" + max_precopy + "'");
      return false;
    }
    ToProto(d, want.mutable_precopy()->mutable_max_precopy());
    if (mask) mask->add_paths("precopy.max_precopy");
  }
  if (cl.Given("--on-timeout")) {
    if (on_timeout != "switch" && on_timeout != "fail") {
      *rc = cl.Fail("--on-timeout: switch or fail, not '" + on_timeout + "'");
      return false;
    }
    want.mutable_precopy()->set_on_timeout(
        on_timeout == "fail" ? v1::PrecopyPolicy::ON_TIMEOUT_FAIL
                             : v1::PrecopyPolicy::ON_TIMEOUT_SWITCH);
    if (mask) mask->add_paths("precopy.on_timeout");
  }
  return true;
}

}  // namespace

int RunMigrateCommand(const GlobalOptions& g, std::vector<std::string> args) {
  if (args.empty()) return Usage("a command is required");
  const std::string cmd = args[0];
  if (cmd == "--help" || cmd == "-h") {
    std::cout << kMigrateUsage << "\n" << kGlobalOptionsHelp;
    return 0;
  }
  auto it = CommandHelp().find(cmd);
  if (it == CommandHelp().end()) return Usage("unknown command '" + cmd + "'");
  CommandLine cl("vmigctl migrate " + cmd, it->second, kGlobalOptionsHelp);
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string* session_id = nullptr;
  if (cmd != "list") session_id = &cl.Positional("SESSION", "the session id");

  // Each command's options, declared before the parse.
  const std::vector<std::string>* devices = nullptr;
  const std::vector<std::string>* maps = nullptr;
  const std::string *endpoint = nullptr, *request_id = nullptr, *peer = nullptr,
                    *budget = nullptr, *max_precopy = nullptr,
                    *on_timeout = nullptr, *until = nullptr,
                    *max_bandwidth = nullptr, *switchover_bandwidth = nullptr;
  const bool *leave_stopped = nullptr, *manual = nullptr, *allow = nullptr,
             *deny = nullptr, *resume = nullptr, *owns = nullptr;
  if (cmd == "prepare" || cmd == "start") {
    endpoint = &cl.Option("--data-endpoint", "the data-plane port", "PORT");
    request_id = &cl.Option("--request-id",
                            "makes a retry return the same session", "ID");
  }
  if (cmd == "prepare") {
    devices = &cl.Repeated("--device", "a device to receive into", "ID");
    leave_stopped = &cl.Flag("--leave-stopped", "leave the devices stopped");
  }
  if (cmd == "start") {
    peer = &cl.Option("--peer", "the destination daemon", "ADDR");
    maps =
        &cl.Repeated("--map", "a source device and its destination", "SRC=DST");
    manual = &cl.Flag("--manual", "switch over on 'migrate switchover'");
  }
  if (cmd == "start" || cmd == "update") {
    budget = &cl.Option("--budget", "the downtime budget", "DURATION");
    max_precopy = &cl.Option("--max-precopy", "pre-copy's limit", "DURATION");
    on_timeout = &cl.Option("--on-timeout", "at max-precopy: switch or fail",
                            "switch|fail");
    allow = &cl.Flag("--allow-overrun",
                     "switch over even when the bound exceeds the budget");
    max_bandwidth =
        &cl.Option("--max-bandwidth", "the cap before the switchover", "RATE");
    switchover_bandwidth = &cl.Option("--switchover-bandwidth",
                                      "the cap from the switchover on", "RATE");
  }
  if (cmd == "update")
    deny = &cl.Flag("--no-allow-overrun", "undo --allow-overrun");
  if (cmd == "resolve") {
    resume = &cl.Flag("--resume-source", "the source's devices run again");
    owns = &cl.Flag("--destination-owns", "the destination runs them");
  }
  if (cmd == "wait")
    until =
        &cl.Option("--for", "completed or ended (default)", "completed|ended");
  if (int rc = cl.Parse(rest); rc >= 0) return rc;

  std::shared_ptr<grpc::Channel> channel = ChannelOrReport(g);
  if (!channel) return 2;
  auto stub = v1::MigrationService::NewStub(channel);
  grpc::ClientContext ctx;
  SetDeadline(ctx, g);
  v1::Session session;
  grpc::Status s;
  int rc = 0;

  if (cmd == "prepare") {
    v1::PrepareIncomingRequest req;
    for (const auto& d : *devices) req.add_devices(d);
    if (cl.Given("--data-endpoint")) req.set_data_endpoint(*endpoint);
    if (cl.Given("--request-id")) req.set_request_id(*request_id);
    req.set_leave_stopped(*leave_stopped);
    req.set_session_id(*session_id);
    s = stub->PrepareIncoming(&ctx, req, &session);
  } else if (cmd == "start") {
    v1::StartMigrationRequest req;
    if (cl.Given("--peer")) req.set_peer(*peer);
    if (cl.Given("--data-endpoint")) req.set_data_endpoint(*endpoint);
    if (cl.Given("--request-id")) req.set_request_id(*request_id);
    for (const auto& m : *maps) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(m, absl::MaxSplits('=', 1));
      if (kv.first.empty() || kv.second.empty())
        return cl.Fail("--map takes SRC=DST, not '" + m + "'");
      auto* dm = req.add_devices();
      dm->set_source(kv.first);
      dm->set_destination(kv.second);
    }
    v1::Session policy;
    if (!ParsePolicy(cl, *budget, *max_precopy, *on_timeout, *max_bandwidth,
                     *switchover_bandwidth, policy, nullptr, &rc))
      return rc;
    req.set_max_bandwidth(policy.max_bandwidth());
    req.set_switchover_bandwidth(policy.switchover_bandwidth());
    if (policy.has_downtime_budget())
      *req.mutable_downtime_budget() = policy.downtime_budget();
    if (policy.has_precopy()) *req.mutable_precopy() = policy.precopy();
    req.set_switchover_mode(*manual ? v1::SWITCHOVER_MODE_MANUAL
                                    : v1::SWITCHOVER_MODE_AUTO);
    req.set_allow_budget_overrun(*allow);
    req.set_session_id(*session_id);
    s = stub->StartMigration(&ctx, req, &session);
  } else if (cmd == "wait") {
    const std::string u = until->empty() ? "ended" : *until;
    if (u != "ended" && u != "completed")
      return cl.Fail("--for: completed or ended, not '" + u + "'");
    return Wait(*stub, g, SessionName(*session_id), u == "completed");
  } else if (cmd == "switchover" || cmd == "cancel" || cmd == "status" ||
             cmd == "watch") {
    const std::string name = SessionName(*session_id);
    if (cmd == "watch") return Watch(*stub, g, name);
    if (cmd == "switchover") {
      v1::SwitchoverRequest req;
      req.set_name(name);
      s = stub->Switchover(&ctx, req, &session);
    } else if (cmd == "cancel") {
      v1::CancelRequest req;
      req.set_name(name);
      s = stub->Cancel(&ctx, req, &session);
    } else {
      v1::GetSessionRequest req;
      req.set_name(name);
      s = stub->GetSession(&ctx, req, &session);
    }
  } else if (cmd == "update") {
    v1::UpdateSessionRequest req;
    v1::Session& want = *req.mutable_session();
    auto& mask = *req.mutable_update_mask();
    if (!ParsePolicy(cl, *budget, *max_precopy, *on_timeout, *max_bandwidth,
                     *switchover_bandwidth, want, &mask, &rc))
      return rc;
    if (*allow && *deny)
      return cl.Fail("--allow-overrun and --no-allow-overrun conflict");
    if (*allow || *deny) {
      want.set_allow_budget_overrun(*allow);
      mask.add_paths("allow_budget_overrun");
    }
    if (mask.paths().empty())
      return cl.Fail("name something to change (--budget, ...)");
    want.set_name(SessionName(*session_id));
    s = stub->UpdateSession(&ctx, req, &session);
  } else if (cmd == "resolve") {
    if (*resume == *owns)
      return cl.Fail("one of --resume-source, --destination-owns is needed");
    v1::ResolveRequest req;
    req.set_name(SessionName(*session_id));
    req.set_decision(*resume ? v1::ResolveRequest::DECISION_RESUME_SOURCE
                             : v1::ResolveRequest::DECISION_DESTINATION_OWNS);
    s = stub->Resolve(&ctx, req, &session);
  } else {  // list
    v1::ListSessionsResponse resp;
    s = stub->ListSessions(&ctx, v1::ListSessionsRequest(), &resp);
    if (!s.ok()) return RpcFailed(s, "list");
    if (g.output != "table") {
      std::cout << Render(g.output, resp);
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& x : resp.sessions()) rows.push_back(SessionRow(x));
      PrintTable(std::cout, SessionHeader(), rows);
    }
    return 0;
  }
  if (!s.ok()) return RpcFailed(s, cmd);
  PrintSession(g, session);
  if (cmd == "status" && g.output == "table") PrintReport(std::cout, session);
  // The call worked, but the session it shows has failed: say so in the
  // exit code too, for scripts (0 means the session is not failed). Not
  // for resolve, whose RESUME_SOURCE ends a session FAILED on purpose.
  if (session.phase() == v1::PHASE_FAILED && cmd != "resolve") {
    std::cerr << "vmigctl: " << session.name() << " FAILED: " << session.error()
              << "\n";
    return 1;
  }
  return 0;
}

}  // namespace vmig::cli
