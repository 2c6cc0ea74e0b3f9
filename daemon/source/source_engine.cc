// The source engine: the session's steps in order, each handed to the part
// whose job it is (see the header).
#include "daemon/source/source_engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/boot_id.h"
#include "common/fmt_absl.h"
#include "daemon/source/figures.h"
#include "daemon/source/source_handshake.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

using vfio::DeviceState;

SourceEngine::SourceEngine(
    std::shared_ptr<SessionRecord> session, v1::StartMigrationRequest request,
    std::vector<std::string> device_ids,
    std::vector<std::shared_ptr<vfio::MigrationDevice>> devices,
    dataplane::Transport& transport, DeviceRegistry& registry,
    MeasureHistory& history, std::unique_ptr<PeerClient> peer, Clock& clock,
    EngineTunables tunables, AdmissionQueue* outgoing)
    : session_(std::move(session)),
      req_(std::move(request)),
      outgoing_(outgoing),
      transport_(transport),
      registry_(registry),
      history_(history),
      peer_(std::move(peer)),
      clock_(clock),
      tun_(tunables),
      ids_(std::move(device_ids)),
      path_(devs_, transport_, clock_, tun_.stall_timeout),
      predictor_(devs_, history_, transport_.port_cap(),
                 transport_.config().port.name, req_.serial_schedule()),
      tracker_(devs_, predictor_, tun_.stall_timeout, session_->name()),
      precopy_({*session_, *peer_,
                absl::StrCat("the destination ", req_.peer()), clock_, tracker_,
                predictor_, path_.cap(), tun_.monitor_interval}),
      progress_(*session_, devs_),
      commit_(*session_, *peer_, clock_, shutdown_) {
  start_ = clock_.Now();
  // The policy lives in the record (UpdateSession changes it there); a
  // record made without it takes the request's.
  session_->Update([&](v1::Session& p) {
    if (!p.has_downtime_budget())
      *p.mutable_downtime_budget() = req_.downtime_budget();
    if (!p.has_precopy()) *p.mutable_precopy() = req_.precopy();
    if (p.switchover_mode() == v1::SWITCHOVER_MODE_UNSPECIFIED)
      p.set_switchover_mode(req_.switchover_mode());
    if (req_.allow_budget_overrun()) p.set_allow_budget_overrun(true);
  });
  InitDevices(std::move(devices));
}

void SourceEngine::InitDevices(
    std::vector<std::shared_ptr<vfio::MigrationDevice>> devs) {
  devs_.resize(devs.size());
  for (size_t i = 0; i < devs_.size(); ++i) {
    SourceDevice& d = devs_[i];
    d.id = ids_[i];
    d.peer_id = req_.devices(static_cast<int>(i)).destination();
    d.device = devs[i];
    if (absl::Status s =
            path_.group().Add(d.id, d.device, vfio::Recovery::kResume);
        !s.ok()) {
      spdlog::warn("{}: {}", session_->name(), s.message());
    }
    d.precopy = path_.group()[i].flags.has(vfio::kMigPreCopy);
    d.stream_id = static_cast<uint32_t>(i);
    absl::StatusOr<v1::Device> described = registry_.Get(d.id);
    d.history_key = described.ok() ? described->device_class() : d.id;
    predictor_.UseHistory(d);
    // REINIT (new initial data mid pre-copy) is reported only to a user
    // that opted in; the engine handles it (switchover-ack again).
    if (d.precopy) {
      if (absl::Status s = d.device->EnablePrecopyInfoV2(); !s.ok()) {
        spdlog::debug("{}: {}: no PRECOPY_INFOv2: {}", session_->name(), d.id,
                      s.message());
      }
    }
  }
  tracker_.Start(clock_.Now());
}

bool SourceEngine::Cancelled() const {
  return session_->cancel_requested.load();
}

void SourceEngine::RequestCancel() {
  session_->cancel_requested.store(true);
  if (!cancel_told_.exchange(true)) cancel_event_.Notify();
  if (outgoing_) outgoing_->Wake();  // a queued session leaves the line
  // A call to a hung peer would hold the cancel for its whole deadline. A
  // commit is never cut short on purpose (if the cut races its start, the
  // outcome is asked for like any lost answer).
  if (!session_->committing.load()) peer_->CancelPending();
}

void SourceEngine::RequestShutdown() {
  shutdown_.store(true);
  RequestCancel();
}

void SourceEngine::Run() {
  absl::Status s = AwaitTurn();
  if (s.ok()) s = Handshake();
  if (s.ok()) s = ProbeLink();
  if (s.ok()) s = StartPrecopy();
  if (s.ok()) {
    s = precopy_.Run([this] { return CheckWait("pre-copy"); },
                     [this](v1::Phase phase) { PublishProgress(phase); });
  }
  if (s.ok()) s = Switchover();
  if (!s.ok() && !committed_ && !commit_.in_doubt()) Rollback(s);
  path_.ReleaseStreams(session_->name());
  if (monitor_) {
    peer_->CancelPending();  // a heartbeat to a frozen peer ends now
    monitor_.reset();
  }
  registry_.Release(ids_, session_->name());
  // The next in line may start once this one is seen ended.
  if (outgoing_) outgoing_->Leave(session_->id());
  if (end_phase_ == v1::PHASE_UNSPECIFIED) {
    end_phase_ = v1::PHASE_FAILED;
    end_error_ = std::string(s.message());
  }
  // One update: a watcher that sees the terminal phase sees its report or
  // error with it.
  PublishProgress(end_phase_, [&](v1::Session& p) {
    p.set_phase(end_phase_);
    p.set_committed(committed_);
    if (end_phase_ == v1::PHASE_COMPLETED) {
      *p.mutable_report() = end_report_;
    } else {
      p.set_error(end_error_);
    }
  });
}

absl::Status SourceEngine::AwaitTurn() {
  if (!outgoing_) return absl::OkStatus();
  absl::Status s = outgoing_->Wait(
      session_->id(), [this] { return Cancelled(); },
      [this](size_t place) {
        PublishProgress(v1::PHASE_QUEUED, [&](v1::Session& p) {
          p.set_queue_position(static_cast<uint32_t>(place));
        });
      });
  if (!s.ok()) return absl::CancelledError("cancelled while queued");
  return absl::OkStatus();
}

absl::Status SourceEngine::WaitQueued(size_t place, absl::Duration d) {
  PublishProgress(v1::PHASE_QUEUED, [&](v1::Session& p) {
    p.set_queue_position(static_cast<uint32_t>(place));
    p.mutable_progress()->set_waiting_reason(
        absl::StrCat("the destination runs its limit of incoming sessions "
                     "(limits.max_incoming_sessions); place ",
                     place, " in its line"));
  });
  clock_.SleepUntilWoken(d, cancel_event_);
  if (Cancelled()) return absl::CancelledError("cancelled while queued");
  return absl::OkStatus();
}

absl::Status SourceEngine::Handshake() {
  PublishProgress(v1::PHASE_HANDSHAKE,
                  [](v1::Session& p) { p.set_queue_position(0); });
  absl::StatusOr<KeyShare> share = KeyShare::Generate();
  if (!share.ok()) return share.status();
  const std::string boot_id = BootId();
  absl::StatusOr<v1::HandshakeRequest> hr =
      MakeHandshakeRequest(session_->id(), devs_, path_.group(), transport_,
                           history_, *share, tun_.probe_bytes, boot_id);
  if (!hr.ok()) return hr.status();
  // Sent, the destination may have accepted it even if the answer is lost:
  // a rollback from here on tells it to abort.
  handshake_sent_ = true;
  absl::StatusOr<v1::HandshakeResponse> resp = peer_->Handshake(*hr);
  // The destination runs its limit of incoming sessions: wait in its line,
  // asking again (it forgets a source that stops asking).
  while (resp.ok() && resp->queue_position() > 0) {
    if (absl::Status s =
            WaitQueued(resp->queue_position(), absl::Milliseconds(200));
        !s.ok())
      return s;
    resp = peer_->Handshake(*hr);
    if (resp.ok() && resp->queue_position() == 0) {
      PublishProgress(v1::PHASE_HANDSHAKE,
                      [](v1::Session& p) { p.set_queue_position(0); });
    }
  }
  if (!resp.ok()) return resp.status();
  // From here both sides hold the session: each watches the other.
  const PeerDeadlines dl = peer_->deadlines();
  monitor_ = std::make_unique<PeerMonitor>(
      *peer_, session_->id(), absl::StrCat("the destination ", req_.peer()),
      dl.heartbeat_interval, dl.liveness, *events_);
  session_->wire_session_id = resp->wire_session_id();  // for its status
  same_host_ = !boot_id.empty() && resp->boot_id() == boot_id;
  probe_stream_id_ = resp->probe_stream_id();
  TakeDestinationFigures(*resp, devs_, predictor_, history_);
  absl::StatusOr<SourceDataPath::Wire> wire =
      AgreeWire(*resp, *share, transport_.config().protection, session_->id());
  if (!wire.ok()) return wire.status();
  path_.SetWire(*wire);
  protection_ = wire->protection;
  session_->Update([&](v1::Session& p) {
    p.set_data_protection(dataplane::ProtectionName(protection_));
  });
  return absl::OkStatus();
}

absl::Status SourceEngine::CheckPeer() const {
  if (monitor_) {
    if (absl::Status s = monitor_->Check(); !s.ok()) return s;
  }
  // The data plane's clock is CLOCK_MONOTONIC, whatever clock the engine's
  // policy runs on.
  return path_.CheckHeard(peer_->deadlines().liveness);
}

absl::Status SourceEngine::CheckWait(absl::string_view phase) const {
  if (Cancelled())
    return absl::CancelledError(absl::StrCat("cancelled during ", phase));
  return CheckPeer();
}

absl::Status SourceEngine::StartPrecopy() {
  path_.cap().SetRate(Policy().max_bandwidth);
  std::vector<SourceDevice*> pre;
  for (SourceDevice& d : devs_) {
    if (d.precopy) pre.push_back(&d);
  }
  PublishProgress(v1::PHASE_PRECOPY);
  // Progress and rates count from here: the handshake and the link probe
  // before may take longer than the stall timeout on a slow link (6 s on
  // two TCG guests), and were not this device's to make.
  tracker_.Start(clock_.Now());
  if (pre.empty()) return absl::OkStatus();
  absl::Status s = path_.Move(pre, DeviceState::kPreCopy, false, true);
  if (s.ok() && pre.size() > 1)
    predictor_.SeeSourceBarrier(path_.last_barrier());
  // RUNNING -> PRE_COPY is one arc of each of these very devices: better
  // than any history.
  for (SourceDevice* d : pre) {
    if (d->last_arc <= absl::ZeroDuration()) continue;
    d->arc = d->last_arc;
    d->arc_source = Source::kMeasured;
    history_.RecordArc(d->history_key, d->arc);
  }
  return s;
}

absl::Status SourceEngine::Switchover() {
  const bool serial = req_.serial_schedule();
  std::vector<SourceDevice*> order;
  for (SourceDevice& d : devs_) order.push_back(&d);
  // The critical path first: the device with the most to send gets its
  // stream (and the worker's attention) first.
  std::sort(order.begin(), order.end(),
            [](const SourceDevice* a, const SourceDevice* b) {
              return a->remaining() > b->remaining();
            });
  const SessionPolicy pol = Policy();
  const Prediction predicted = predictor_.Predict(pol);
  // The downtime runs from here: this session's frames go first on its
  // worker, under its switchover cap.
  path_.BeginSwitchover();
  path_.cap().SetRate(pol.switchover_bandwidth);
  PublishProgress(v1::PHASE_SWITCHOVER);
  for (SourceDevice& d : devs_) d.bytes_at_switchover = d.bytes_sent;
  SwitchoverTimes t;
  t.start = MonotonicNanos();
  // 1. P2P quiescence, as a barrier: no device stops before all are quiet.
  if (absl::Status s =
          path_.Move(order, DeviceState::kPreCopyP2P, serial, false);
      !s.ok()) {
    return s;
  }
  t.quiesced = MonotonicNanos();
  if (Cancelled())
    return absl::CancelledError("cancelled during the P2P barrier");
  // 2. STOP_COPY and the remaining state, streamed in parallel (or, as the
  // baseline, one device after another).
  PublishProgress(v1::PHASE_STOPCOPY);
  auto checks = [this](absl::string_view phase) { return CheckWait(phase); };
  if (absl::Status s = path_.StopCopy(order, serial, checks); !s.ok()) return s;
  t.transferred = MonotonicNanos();
  if (Cancelled()) return absl::CancelledError("cancelled before the commit");
  // 3. Commit: the destination loads and resumes in lockstep.
  absl::StatusOr<v1::CommitResponse> resp = Commit(serial);
  if (!resp.ok()) return resp.status();
  // The downtime ends, on this clock alone, when the destination says its
  // last device runs.
  t.end = MonotonicNanos();
  t.dest_running = resp->last_running_mono_ns();
  // 4. Off the downtime path: the source's devices leave the saving group.
  path_.ReleaseStreams(session_->name());
  if (absl::Status s = path_.Move(order, DeviceState::kStop, false, false);
      !s.ok()) {
    spdlog::warn("{}: after the commit: {}", session_->name(), s.message());
  }
  if (!resp->error().empty()) {
    // Committed, but not as asked: the destination owns the state, and the
    // session says what went wrong there.
    end_phase_ = v1::PHASE_FAILED;
    end_error_ = absl::StrCat("committed, but ", resp->error(),
                              "; the source devices stay stopped");
    return absl::OkStatus();
  }
  Report(*resp, t, predicted);
  return absl::OkStatus();
}

void SourceEngine::Rollback(const absl::Status& why) {
  spdlog::warn("{}: rolling back: {}", session_->name(), why.message());
  path_.ReleaseStreams(session_->name());
  // Every source device back to RUNNING with its state.
  if (absl::Status r = path_.group().Recover(); !r.ok())
    spdlog::error("{}: {}", session_->name(), r.message());
  if (handshake_sent_) {
    v1::AbortRequest ar;
    ar.set_session_id(session_->id());
    ar.set_reason(std::string(why.message()));
    absl::StatusOr<v1::AbortResponse> a = peer_->Abort(ar);
    if (!a.ok()) {
      // The destination rolls back by itself once it misses our heartbeats.
      spdlog::warn("{}: {}", session_->name(), a.status().message());
    }
  }
  // A cancel that cut a call short shows as that call's error: it is still
  // the cancel that ended the session.
  const bool cancelled =
      why.code() == absl::StatusCode::kCancelled || Cancelled();
  end_phase_ = cancelled ? v1::PHASE_CANCELLED : v1::PHASE_FAILED;
  end_error_ = cancelled && why.code() != absl::StatusCode::kCancelled
                   ? absl::StrCat("cancelled (", why.message(), ")")
                   : std::string(why.message());
}

absl::Status SourceEngine::ProbeLink() {
  // The destination offers a probe stream only when asked for one.
  if (tun_.probe_bytes == 0 || probe_stream_id_ == 0) return absl::OkStatus();
  // The probe measures the link the stop-copy will have: under the
  // switchover cap, not pre-copy's.
  path_.cap().SetRate(Policy().switchover_bandwidth);
  absl::StatusOr<double> rate = path_.ProbeLink(
      probe_stream_id_, tun_.probe_bytes,
      [this](absl::string_view phase) { return CheckWait(phase); });
  if (!rate.ok()) return rate.status();
  if (*rate <= 0) return absl::OkStatus();
  predictor_.SetProbedLink(*rate);
  // A session's own cap says nothing of the link to the next one.
  if (!path_.cap().limited()) history_.RecordLink(*rate);
  spdlog::info("{}: link probe: {:.1f} MiB at {:.1f} MiB/s", session_->name(),
               MiB(static_cast<double>(tun_.probe_bytes)), MiB(*rate));
  return absl::OkStatus();
}

void SourceEngine::PublishProgress(
    v1::Phase phase, const std::function<void(v1::Session&)>& also) {
  const SessionPolicy pol = Policy();
  SessionProgress::Figures f;
  f.predicted = predictor_.Predict(pol);
  f.elapsed = clock_.Now() - start_;
  if (phase == v1::PHASE_PRECOPY || phase == v1::PHASE_READY) {
    f.time_left = std::max(absl::ZeroDuration(),
                           pol.max_precopy - (clock_.Now() - precopy_.start()));
    f.waiting = precopy_.waiting();
  }
  f.link_rate = predictor_.link_rate();
  progress_.Publish(phase, f, also);
}

absl::StatusOr<v1::CommitResponse> SourceEngine::Commit(bool serial) {
  v1::CommitRequest cr;
  cr.set_session_id(session_->id());
  cr.set_serial(serial);
  for (SourceDevice& d : devs_) {
    const dataplane::StreamStats st = d.stream->Stats();
    d.caught_up = st.caught_up;
    d.retransmits = st.sender.retransmits;
    d.stream_bytes = st.device_bytes;
    d.bytes_sent = d.stream_bytes;
    cr.add_stream_bytes(d.stream_bytes);
  }
  if (absl::Status s = CheckPeer(); !s.ok()) return s;
  absl::StatusOr<v1::CommitResponse> resp =
      commit_.Call(cr, [this](const std::string& error) {
        PublishProgress(v1::PHASE_IN_DOUBT,
                        [&](v1::Session& p) { p.set_error(error); });
      });
  if (!resp.ok()) return resp.status();
  // From here the destination owns the state: no rollback.
  committed_ = true;
  path_.group().SetRecovery(vfio::Recovery::kKeep);
  return resp;
}

void SourceEngine::Report(const v1::CommitResponse& resp,
                          const SwitchoverTimes& t,
                          const Prediction& predicted) {
  predictor_.Learn(resp, t, predicted);
  ReportContext ctx;
  ctx.predicted = predicted;
  ctx.policy = Policy();
  ctx.over_budget = precopy_.over_budget();
  ctx.same_host = same_host_;
  ctx.protection = dataplane::ProtectionName(protection_);
  v1::DowntimeReport report = MakeDowntimeReport(resp, t, devs_, ctx);
  spdlog::info(
      "{}: downtime {:.1f} ms (predicted {:.1f}, bound {:.1f}, budget {:.1f}: "
      "{}): quiesce {:.1f}, stop-copy {:.1f}, load {:.1f}, resume {:.1f}; "
      "data plane {}{}{}",
      session_->name(), (t.end - t.start) / 1e6,
      absl::ToDoubleMilliseconds(predicted.expected),
      absl::ToDoubleMilliseconds(predicted.bound),
      absl::ToDoubleMilliseconds(ctx.policy.budget),
      report.budget_met() ? "met" : "missed", (t.quiesced - t.start) / 1e6,
      (t.transferred - t.quiesced) / 1e6, resp.load_ns() / 1e6,
      resp.resume_ns() / 1e6, report.data_protection(),
      report.overrun().empty() ? "" : "; overran: ", report.overrun());
  // The destination's session shows the same report (best effort: the
  // migration is done whatever becomes of this call).
  v1::ReportRequest rr;
  rr.set_session_id(session_->id());
  *rr.mutable_report() = report;
  for (const SourceDevice& d : devs_) {
    if (std::optional<DeviceMeasures> m = history_.Device(d.history_key))
      *rr.add_measures() = SharedMeasures(d.history_key, *m);
  }
  if (absl::Status s = peer_->Report(rr); !s.ok()) {
    spdlog::warn("{}: the report did not reach the destination: {}",
                 session_->name(), s.message());
  }
  end_phase_ = v1::PHASE_COMPLETED;
  end_report_ = std::move(report);
}

}  // namespace vmig::daemon
