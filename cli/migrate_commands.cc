#include <unistd.h>

#include <iostream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/units.h"
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
    "        [--request-id ID]\n"
    "                                               source side\n"
    "    --request-id: a retry with the same SESSION and ID returns the\n"
    "    session the first call made\n"
    "    --allow-overrun: switch over even when the prediction's bound\n"
    "    exceeds the budget (otherwise such a session fails, naming the\n"
    "    smallest downtime it could promise, and the source runs on)\n"
    "  update SESSION [--budget DURATION] [--max-precopy DURATION]\n"
    "         [--on-timeout switch|fail] [--allow-overrun|--no-allow-overrun]\n"
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
       "                             [--request-id ID]\n\n"
       "Source side: migrates the mapped devices to the destination daemon\n"
       "at ADDR, switching over once the prediction's bound fits the budget\n"
       "(--manual: once 'migrate switchover' is called). A budget the\n"
       "devices cannot meet fails the session at once, naming the smallest\n"
       "downtime it could promise; --allow-overrun switches over anyway and\n"
       "the report says so. Exit 1 if the session shown has FAILED.\n"},
      {"update",
       "usage: vmigctl migrate update SESSION [--budget DURATION]\n"
       "                              [--max-precopy DURATION]\n"
       "                              [--on-timeout switch|fail]\n"
       "                              [--allow-overrun|--no-allow-overrun]\n\n"
       "Changes a source session's budget and pre-copy policy before its\n"
       "switchover (UpdateSession); the next decision uses them.\n"},
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
    std::cout << last.name() << "  " << PhaseName(last.phase());
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

int RunMigrateCommand(const GlobalOptions& g, std::vector<std::string> args) {
  if (args.empty()) return Usage("a command is required");
  const std::string cmd = args[0];
  Flags f(std::vector<std::string>(args.begin() + 1, args.end()));
  if (cmd == "--help" || cmd == "-h") {
    std::cout << kMigrateUsage << "\n" << kGlobalOptionsHelp;
    return 0;
  }
  if (f.help()) {
    auto it = CommandHelp().find(cmd);
    if (it == CommandHelp().end())
      return Usage("unknown command '" + cmd + "'");
    std::cout << it->second << "\n" << kGlobalOptionsHelp;
    return 0;
  }
  std::shared_ptr<grpc::Channel> channel = ChannelOrReport(g);
  if (!channel) return 2;
  auto stub = v1::MigrationService::NewStub(channel);
  grpc::ClientContext ctx;
  SetDeadline(ctx, g);
  v1::Session session;
  grpc::Status s;

  if (cmd == "prepare") {
    v1::PrepareIncomingRequest req;
    for (const auto& d : f.TakeAll("--device")) req.add_devices(d);
    std::string v;
    if (f.Take("--data-endpoint", &v)) req.set_data_endpoint(v);
    if (f.Take("--request-id", &v)) req.set_request_id(v);
    req.set_leave_stopped(f.TakeBool("--leave-stopped"));
    if (std::string e = f.ExpectOne("prepare", "SESSION"); !e.empty())
      return Usage(e);
    req.set_session_id(f.rest()[0]);
    s = stub->PrepareIncoming(&ctx, req, &session);
  } else if (cmd == "start") {
    v1::StartMigrationRequest req;
    std::string v;
    if (f.Take("--peer", &v)) req.set_peer(v);
    if (f.Take("--data-endpoint", &v)) req.set_data_endpoint(v);
    if (f.Take("--request-id", &v)) req.set_request_id(v);
    for (const auto& m : f.TakeAll("--map")) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(m, absl::MaxSplits('=', 1));
      if (kv.first.empty() || kv.second.empty())
        return Usage("--map takes SRC=DST");
      auto* dm = req.add_devices();
      dm->set_source(kv.first);
      dm->set_destination(kv.second);
    }
    absl::Duration d;
    if (f.Take("--budget", &v)) {
      if (!absl::ParseDuration(v, &d))
        return Usage("--budget: bad duration '" + v + "'");
      ToProto(d, req.mutable_downtime_budget());
    }
    if (f.Take("--max-precopy", &v)) {
      if (!absl::ParseDuration(v, &d))
        return Usage("--max-precopy: bad duration");
      ToProto(d, req.mutable_precopy()->mutable_max_precopy());
    }
    if (f.Take("--on-timeout", &v)) {
      if (v != "switch" && v != "fail")
        return Usage("--on-timeout: switch or fail");
      req.mutable_precopy()->set_on_timeout(
          v == "fail" ? v1::PrecopyPolicy::ON_TIMEOUT_FAIL
                      : v1::PrecopyPolicy::ON_TIMEOUT_SWITCH);
    }
    req.set_switchover_mode(f.TakeBool("--manual") ? v1::SWITCHOVER_MODE_MANUAL
                                                   : v1::SWITCHOVER_MODE_AUTO);
    req.set_allow_budget_overrun(f.TakeBool("--allow-overrun"));
    if (std::string e = f.ExpectOne("start", "SESSION"); !e.empty())
      return Usage(e);
    req.set_session_id(f.rest()[0]);
    s = stub->StartMigration(&ctx, req, &session);
  } else if (cmd == "wait") {
    std::string until = "ended";
    (void)f.Take("--for", &until);
    if (until != "ended" && until != "completed")
      return Usage("--for: completed or ended");
    if (std::string e = f.ExpectOne("wait", "SESSION"); !e.empty())
      return Usage(e);
    return Wait(*stub, g, SessionName(f.rest()[0]), until == "completed");
  } else if (cmd == "switchover" || cmd == "cancel" || cmd == "status" ||
             cmd == "watch") {
    if (std::string e = f.ExpectOne(cmd, "SESSION"); !e.empty())
      return Usage(e);
    const std::string name = SessionName(f.rest()[0]);
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
    std::string v;
    absl::Duration d;
    if (f.Take("--budget", &v)) {
      if (!absl::ParseDuration(v, &d))
        return Usage("--budget: bad duration '" + v + "'");
      ToProto(d, want.mutable_downtime_budget());
      mask.add_paths("downtime_budget");
    }
    if (f.Take("--max-precopy", &v)) {
      if (!absl::ParseDuration(v, &d))
        return Usage("--max-precopy: bad duration '" + v + "'");
      ToProto(d, want.mutable_precopy()->mutable_max_precopy());
      mask.add_paths("precopy.max_precopy");
    }
    if (f.Take("--on-timeout", &v)) {
      if (v != "switch" && v != "fail")
        return Usage("--on-timeout: switch or fail");
      want.mutable_precopy()->set_on_timeout(
          v == "fail" ? v1::PrecopyPolicy::ON_TIMEOUT_FAIL
                      : v1::PrecopyPolicy::ON_TIMEOUT_SWITCH);
      mask.add_paths("precopy.on_timeout");
    }
    const bool allow = f.TakeBool("--allow-overrun");
    const bool deny = f.TakeBool("--no-allow-overrun");
    if (allow && deny)
      return Usage("--allow-overrun and --no-allow-overrun conflict");
    if (allow || deny) {
      want.set_allow_budget_overrun(allow);
      mask.add_paths("allow_budget_overrun");
    }
    if (std::string e = f.ExpectOne("update", "SESSION"); !e.empty())
      return Usage(e);
    if (mask.paths().empty())
      return Usage("update: name something to change (--budget, ...)");
    want.set_name(SessionName(f.rest()[0]));
    s = stub->UpdateSession(&ctx, req, &session);
  } else if (cmd == "resolve") {
    const bool resume = f.TakeBool("--resume-source");
    const bool owns = f.TakeBool("--destination-owns");
    if (resume == owns)
      return Usage("resolve needs one of --resume-source, --destination-owns");
    if (std::string e = f.ExpectOne("resolve", "SESSION"); !e.empty())
      return Usage(e);
    v1::ResolveRequest req;
    req.set_name(SessionName(f.rest()[0]));
    req.set_decision(resume ? v1::ResolveRequest::DECISION_RESUME_SOURCE
                            : v1::ResolveRequest::DECISION_DESTINATION_OWNS);
    s = stub->Resolve(&ctx, req, &session);
  } else if (cmd == "list") {
    if (!f.rest().empty()) return Usage("list takes no arguments");
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
  } else {
    return Usage("unknown command '" + cmd + "'");
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
