#include "daemon/source/peer_monitor.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/session_record.h"

namespace vmig::daemon {

PeerMonitor::PeerMonitor(PeerClient& peer, std::string session_id,
                         std::string who, absl::Duration interval,
                         absl::Duration liveness, DaemonEvents& events)
    : peer_(peer),
      session_id_(std::move(session_id)),
      who_(std::move(who)),
      interval_(interval),
      liveness_(liveness),
      events_(events) {
  {
    absl::MutexLock lock(&mu_);
    last_answer_ = absl::Now();  // the handshake just answered
  }
  thread_ = std::thread([this] { Run(); });
}

PeerMonitor::~PeerMonitor() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    stop_cv_.Signal();
  }
  thread_.join();
}

void PeerMonitor::Run() {
  v1::HeartbeatRequest req;
  req.set_session_id(session_id_);
  for (;;) {
    absl::StatusOr<v1::HeartbeatResponse> resp = peer_.Heartbeat(req);
    absl::MutexLock lock(&mu_);
    if (resp.ok()) {
      last_answer_ = absl::Now();
      last_ = *resp;
      last_error_ = absl::OkStatus();
    } else {
      last_error_ = resp.status();
      // An answer, and a definite one: the destination has no such session
      // (it was restarted, or the session ended and was forgotten).
      if (resp.status().code() == absl::StatusCode::kNotFound) lost_ = true;
    }
    // A heartbeat that failed at once is not retried in a tight loop.
    const absl::Time next = absl::Now() + interval_;
    while (!stop_ && !stop_cv_.WaitWithDeadline(&mu_, next)) {
    }
    if (stop_) return;
  }
}

absl::Status PeerMonitor::Check() const {
  absl::MutexLock lock(&mu_);
  if (IsTerminal(last_.phase()) ||
      last_.outcome() == v1::COMMIT_OUTCOME_ABORTED) {
    return absl::AbortedError(absl::StrCat(
        "the destination ended the session (", v1::Phase_Name(last_.phase()),
        "): ", last_.error().empty() ? "no reason given" : last_.error()));
  }
  if (lost_) {
    return absl::AbortedError(absl::StrCat(
        who_, " no longer knows the session: ", last_error_.message()));
  }
  const absl::Duration silent = absl::Now() - last_answer_;
  if (silent > liveness_) {
    if (!counted_silent_) events_.PeerSilent(v1::ROLE_SOURCE);
    counted_silent_ = true;
    return absl::UnavailableError(absl::StrCat(
        who_, " silent for ", absl::FormatDuration(silent), " (liveness bound ",
        absl::FormatDuration(liveness_), ")",
        last_error_.ok() ? "" : absl::StrCat(": ", last_error_.message())));
  }
  return absl::OkStatus();
}

}  // namespace vmig::daemon
