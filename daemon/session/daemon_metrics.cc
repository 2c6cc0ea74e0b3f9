#include "daemon/session/daemon_metrics.h"

#include <cmath>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "daemon/session/session_manager.h"
#include "dataplane/counters.h"
#include "proto/convert.h"

namespace vmig::daemon {
namespace {

using metrics::CounterFamily;
using metrics::HistogramFamily;
using metrics::Registry;
using metrics::TextWriter;
using metrics::Type;

double ToSeconds(const google::protobuf::Duration& d) {
  return absl::ToDoubleSeconds(FromProto(d));
}

std::string RoleName(v1::Role r) {
  return r == v1::ROLE_SOURCE ? "source" : "destination";
}

// "PHASE_PRECOPY" -> "precopy".
std::string PhaseName(v1::Phase p) {
  return absl::AsciiStrToLower(absl::StripPrefix(v1::Phase_Name(p), "PHASE_"));
}

}  // namespace

struct DaemonMetrics::Families {
  explicit Families(Registry& registry) : r(registry) {}
  Registry& r;  // first: the families below register with it
  CounterFamily migrations{
      r,
      "vmigd_migrations_total",
      "Sessions ended, by role and outcome (completed, cancelled, "
      "rolled_back: failed before the commit, the source running; "
      "failed_after_commit).",
      {"role", "outcome"}};
  CounterFamily rollbacks{
      r,
      "vmigd_rollbacks_total",
      "Sessions that ended before the commit, by the phase they were in and "
      "why (cancelled, failed).",
      {"role", "phase", "cause"}};
  CounterFamily in_doubt{r,
                         "vmigd_in_doubt_total",
                         "Sessions whose commit outcome became unknown.",
                         {"role"}};
  CounterFamily budget_missed{
      r,
      "vmigd_budget_missed_total",
      "Completed sessions whose downtime exceeded their budget.",
      {"role"}};
  CounterFamily migrated_bytes{
      r,
      "vmigd_migrated_bytes_total",
      "Device state bytes streamed by sessions that ended.",
      {"role"}};
  CounterFamily peer_silent{
      r,
      "vmigd_peer_silent_total",
      "Sessions failed because the peer daemon fell silent past the "
      "liveness bound.",
      {"role"}};
  CounterFamily peer_call_failures{
      r,
      "vmigd_peer_call_failures_total",
      "Calls to a peer daemon that failed, by method and gRPC code.",
      {"method", "code"}};
  HistogramFamily downtime{
      r,
      "vmigd_downtime_seconds",
      "Downtime of completed sessions: from the first P2P transition to the "
      "last destination device running.",
      {"role"},
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
  HistogramFamily prediction_error{
      r,
      "vmigd_prediction_error_ratio",
      "|predicted - measured| / measured downtime of completed sessions.",
      {"role"},
      {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}};
};

namespace {

void Gauge(TextWriter& w, const std::string& name, const std::string& help,
           const std::vector<std::pair<TextWriter::LabelPairs, double>>& s) {
  w.Family(name, Type::kGauge, help);
  for (const auto& [labels, v] : s) w.Sample(name, labels, v);
}

void CollectSessions(TextWriter& w, SessionManager& sessions) {
  const std::vector<v1::Session> all = sessions.List();
  std::map<std::string, double> by_phase;
  std::vector<std::pair<TextWriter::LabelPairs, double>> phase, bytes, left,
      elapsed, predicted, budget, rate, cap, switchover_cap, place;
  std::map<std::string, double> queued;  // by role
  for (const v1::Session& s : all) {
    const std::string id(absl::StripPrefix(s.name(), "sessions/"));
    const TextWriter::LabelPairs l = {{"session", id},
                                      {"role", RoleName(s.role())}};
    by_phase[PhaseName(s.phase())] += 1;
    TextWriter::LabelPairs lp = l;
    lp.emplace_back("phase", PhaseName(s.phase()));
    phase.emplace_back(lp, 1);
    bytes.emplace_back(l,
                       static_cast<double>(s.progress().transferred_bytes()));
    left.emplace_back(l, static_cast<double>(s.progress().remaining_bytes()));
    elapsed.emplace_back(l, ToSeconds(s.progress().elapsed()));
    if (s.has_predicted_downtime())
      predicted.emplace_back(l, ToSeconds(s.predicted_downtime()));
    if (s.has_downtime_budget())
      budget.emplace_back(l, ToSeconds(s.downtime_budget()));
    if (s.role() == v1::ROLE_SOURCE && !IsTerminal(s.phase())) {
      rate.emplace_back(l, s.progress().send_bytes_per_second());
      cap.emplace_back(l, static_cast<double>(s.max_bandwidth()));
      switchover_cap.emplace_back(
          l, static_cast<double>(s.switchover_bandwidth()));
    }
    queued[RoleName(s.role())] += s.phase() == v1::PHASE_QUEUED ? 1 : 0;
    if (s.phase() == v1::PHASE_QUEUED)
      place.emplace_back(l, static_cast<double>(s.queue_position()));
  }
  std::vector<std::pair<TextWriter::LabelPairs, double>> queue_length;
  for (const char* r : {"source", "destination"})
    queue_length.push_back({{{"role", r}}, queued[r]});
  Gauge(w, "vmigd_session_send_bytes_per_second",
        "A running source session's device bytes/s over about the last "
        "second.",
        rate);
  Gauge(w, "vmigd_session_max_bandwidth_bytes_per_second",
        "A running source session's cap before its switchover (0: none).", cap);
  Gauge(w, "vmigd_session_switchover_bandwidth_bytes_per_second",
        "A running source session's cap from its switchover on (0: none).",
        switchover_cap);
  Gauge(w, "vmigd_session_queue_position",
        "A queued session's place in line (1: next).", place);
  Gauge(w, "vmigd_sessions_queued",
        "Sessions waiting for their turn (limits.max_outgoing_sessions, or "
        "the destination's max_incoming_sessions), by role.",
        queue_length);
  std::vector<std::pair<TextWriter::LabelPairs, double>> counts;
  for (const auto& [p, n] : by_phase) counts.push_back({{{"phase", p}}, n});
  Gauge(w, "vmigd_sessions", "Sessions this daemon keeps, by phase.", counts);
  Gauge(w, "vmigd_session_phase",
        "1 for each kept session, labelled with its phase.", phase);
  Gauge(w, "vmigd_session_transferred_bytes",
        "Device state bytes a session has streamed so far.", bytes);
  Gauge(w, "vmigd_session_remaining_bytes",
        "What a session's stop-copy would still move now.", left);
  Gauge(w, "vmigd_session_elapsed_seconds",
        "Since a session started (source) or was prepared (destination).",
        elapsed);
  Gauge(w, "vmigd_session_predicted_downtime_seconds",
        "A session's predicted downtime (its expectation).", predicted);
  Gauge(w, "vmigd_session_downtime_budget_seconds",
        "A session's downtime budget.", budget);
}

void CollectDataplane(TextWriter& w,
                      const std::vector<dataplane::Transport*>& transports) {
  std::vector<std::pair<TextWriter::LabelPairs, double>> link, mbufs, max_rate,
      tx_rate, rx_rate;
  struct Row {
    TextWriter::LabelPairs labels;
    dataplane::CounterSnapshot c;
  };
  std::vector<Row> rows;
  for (dataplane::Transport* t : transports) {
    const std::string& port = t->config().port.name;
    std::shared_ptr<dataplane::Port> held = t->port();
    link.push_back({{{"port", port}}, held && held->LinkUp() ? 1.0 : 0.0});
    mbufs.push_back({{{"port", port}}, static_cast<double>(t->MbufsInUse())});
    max_rate.push_back(
        {{{"port", port}}, static_cast<double>(t->port_cap().rate())});
    const dataplane::Transport::Rates r = t->SampleRates();
    tx_rate.push_back({{{"port", port}}, r.tx_bytes_per_second});
    rx_rate.push_back({{{"port", port}}, r.rx_bytes_per_second});
    const std::vector<dataplane::CounterSnapshot> each = t->worker_counters();
    for (size_t i = 0; i < each.size(); ++i) {
      const auto& lcores = t->config().worker_lcores;
      rows.push_back(
          {{{"port", port},
            {"worker", absl::StrCat(i)},
            {"lcore", i < lcores.size() ? absl::StrCat(lcores[i]) : ""}},
           each[i]});
    }
  }
  Gauge(w, "vmigd_dataplane_link_up", "1 while a data-plane port's link is up.",
        link);
  Gauge(w, "vmigd_dataplane_mbufs_in_use",
        "Packet buffers of a port's pool in use now.", mbufs);
  Gauge(w, "vmigd_dataplane_max_rate_bytes_per_second",
        "A port's cap on what it sends (dataplane.ports.max_rate; 0: none).",
        max_rate);
  Gauge(w, "vmigd_dataplane_tx_bytes_per_second",
        "Bytes/s a port sent between the last two reads (>= 100 ms apart).",
        tx_rate);
  Gauge(w, "vmigd_dataplane_rx_bytes_per_second",
        "Bytes/s a port received between the last two reads.", rx_rate);
  for (size_t k = 0; k < dataplane::kNumCounters; ++k) {
    const std::string name =
        absl::StrCat("vmigd_dataplane_", dataplane::kCounterNames[k], "_total");
    w.Family(name, Type::kCounter,
             absl::StrCat("Data-plane counter ", dataplane::kCounterNames[k],
                          ", per port and worker (docs/architecture.md)."));
    for (const Row& r : rows)
      w.Sample(name, r.labels, static_cast<double>(r.c.value[k]));
  }
}

}  // namespace

DaemonMetrics::DaemonMetrics(Registry& registry)
    : f_(std::make_unique<Families>(registry)) {}

DaemonMetrics::~DaemonMetrics() = default;

void DaemonMetrics::PhaseChanged(v1::Phase from, const v1::Session& now) {
  Families& f = *f_;
  const std::string role = RoleName(now.role());
  if (now.phase() == v1::PHASE_IN_DOUBT) f.in_doubt.Add({role});
  if (!IsTerminal(now.phase())) return;
  f.migrated_bytes.Add({role},
                       static_cast<double>(now.progress().transferred_bytes()));
  std::string outcome;
  switch (now.phase()) {
    case v1::PHASE_COMPLETED:
      outcome = "completed";
      break;
    case v1::PHASE_CANCELLED:
      outcome = "cancelled";
      break;
    default:
      outcome = now.committed() ? "failed_after_commit" : "rolled_back";
  }
  f.migrations.Add({role, outcome});
  if (outcome == "cancelled" || outcome == "rolled_back") {
    f.rollbacks.Add({role, PhaseName(from),
                     outcome == "cancelled" ? "cancelled" : "failed"});
  }
  if (now.phase() != v1::PHASE_COMPLETED || !now.has_report()) return;
  const v1::DowntimeReport& r = now.report();
  const double downtime = ToSeconds(r.downtime());
  if (downtime <= 0) return;
  f.downtime.Observe({role}, downtime);
  if (r.has_predicted() && ToSeconds(r.predicted()) > 0) {
    f.prediction_error.Observe(
        {role}, std::fabs(ToSeconds(r.predicted()) - downtime) / downtime);
  }
  if (!r.budget_met() && r.has_budget()) f.budget_missed.Add({role});
}

void DaemonMetrics::PeerSilent(v1::Role role) {
  f_->peer_silent.Add({RoleName(role)});
}

void DaemonMetrics::PeerCallFailed(const std::string& method,
                                   const std::string& code) {
  f_->peer_call_failures.Add({method, code});
}

std::vector<std::unique_ptr<metrics::Registry::CollectorHandle>>
AddDaemonCollectors(metrics::Registry& registry, SessionManager& sessions,
                    const std::vector<dataplane::Transport*>& transports) {
  std::vector<std::unique_ptr<metrics::Registry::CollectorHandle>> h;
  h.push_back(registry.AddCollector(
      [&sessions](TextWriter& w) { CollectSessions(w, sessions); }));
  h.push_back(registry.AddCollector(
      [transports](TextWriter& w) { CollectDataplane(w, transports); }));
  return h;
}

}  // namespace vmig::daemon
