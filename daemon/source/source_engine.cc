#include "daemon/source/source_engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/boot_id.h"
#include "common/fmt_absl.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

using vfio::DeviceGroup;
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
      cap_(std::make_shared<dataplane::RateLimiter>()),
      transport_(transport),
      registry_(registry),
      history_(history),
      peer_(std::move(peer)),
      clock_(clock),
      tun_(tunables) {
  link_rate_ = history_.link();
  if (link_rate_ > 0) link_source_ = Source::kHistory;
  if (history_.commit_overhead() > absl::ZeroDuration())
    commit_overhead_ = history_.commit_overhead();
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
  InitDevices(std::move(device_ids), std::move(devices));
}

void SourceEngine::InitDevices(
    std::vector<std::string> ids,
    std::vector<std::shared_ptr<vfio::MigrationDevice>> devs) {
  ids_ = std::move(ids);
  devs_.resize(devs.size());
  const absl::Time now = clock_.Now();
  for (size_t i = 0; i < devs_.size(); ++i) {
    Device& d = devs_[i];
    d.id = ids_[i];
    d.peer_id = req_.devices(static_cast<int>(i)).destination();
    if (absl::Status s = group_.Add(d.id, devs[i], vfio::Recovery::kResume);
        !s.ok()) {
      spdlog::warn("{}: {}", session_->name(), s.message());
    }
    d.precopy = group_[i].flags.has(vfio::kMigPreCopy);
    d.stream_id = static_cast<uint32_t>(i);
    absl::StatusOr<v1::Device> described = registry_.Get(d.id);
    d.history_key = described.ok() ? described->device_class() : d.id;
    UseHistory(d);
    d.last_progress = now;
    d.last_sample = now;
    if (d.precopy) {
      // REINIT (new initial data mid pre-copy) is reported only to a user
      // that opted in; the engine handles it (switchover-ack again).
      if (absl::Status s = devs[i]->EnablePrecopyInfoV2(); !s.ok()) {
        spdlog::debug("{}: {}: no PRECOPY_INFOv2: {}", session_->name(), d.id,
                      s.message());
      }
    }
  }
}

void SourceEngine::UseHistory(Device& d) {
  std::optional<DeviceMeasures> m = history_.Device(d.history_key);
  if (!m) return;
  if (m->arc > absl::ZeroDuration() && d.arc_source == Source::kGuess) {
    d.arc = m->arc;
    d.arc_source = Source::kHistory;
  }
  if (m->read_rate > 0 && d.read_source == Source::kGuess) {
    d.read_rate = m->read_rate;
    d.read_source = Source::kHistory;
  }
  d.read_floor = std::max(d.read_floor, m->read_floor);
}

bool SourceEngine::Cancelled() const {
  return session_->cancel_requested.load();
}

void SourceEngine::RequestCancel() {
  session_->cancel_requested.store(true);
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
  if (s.ok()) s = Precopy();
  if (s.ok()) s = Switchover();
  if (!s.ok() && !committed_ && !in_doubt_) Rollback(s);
  ReleaseStreams();
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
  const absl::Time until = clock_.Now() + d;
  while (clock_.Now() < until) {
    if (Cancelled()) return absl::CancelledError("cancelled while queued");
    clock_.SleepFor(absl::Milliseconds(10));
  }
  return absl::OkStatus();
}

absl::Status SourceEngine::Handshake() {
  PublishProgress(v1::PHASE_HANDSHAKE,
                  [](v1::Session& p) { p.set_queue_position(0); });
  v1::HandshakeRequest hr;
  hr.set_session_id(session_->id());
  hr.set_version(1);
  hr.set_source_data_ipv4(transport_.local().ipv4);
  hr.set_source_data_udp_port(transport_.local().udp_port);
  absl::StatusOr<KeyShare> share = KeyShare::Generate();
  if (!share.ok()) return share.status();
  hr.set_key_share(share->public_key());
  const dataplane::Protection wanted = transport_.config().protection;
  hr.set_cipher(dataplane::ProtectionName(wanted));
  hr.set_probe_bytes(tun_.probe_bytes);
  const std::string boot_id = BootId();
  hr.set_boot_id(boot_id);
  if (std::shared_ptr<dataplane::Port> port = transport_.port()) {
    hr.set_source_data_mac(std::string(port->mac().begin(), port->mac().end()));
  }
  for (Device& d : devs_) {
    auto* x = hr.add_devices();
    x->set_destination(d.peer_id);
    *x->mutable_flags() = ToProto(MemberOf(d).flags);
    if (absl::Status s = RefreshStopCopyLength(d); !s.ok()) return s;
    x->set_stop_copy_length(d.stop_copy_length);
    // What this daemon knows of the device's class from measurement, for a
    // destination that never was its source (only the class's name if
    // nothing).
    std::optional<DeviceMeasures> own = history_.Device(d.history_key);
    *x->mutable_known() =
        SharedMeasures(d.history_key, own.value_or(DeviceMeasures{}));
  }
  // Sent, the destination may have accepted it even if the answer is lost:
  // a rollback from here on tells it to abort.
  handshake_sent_ = true;
  absl::StatusOr<v1::HandshakeResponse> resp = peer_->Handshake(hr);
  // The destination runs its limit of incoming sessions: wait in its line,
  // asking again (it forgets a source that stops asking).
  while (resp.ok() && resp->queue_position() > 0) {
    if (absl::Status s =
            WaitQueued(resp->queue_position(), absl::Milliseconds(200));
        !s.ok())
      return s;
    resp = peer_->Handshake(hr);
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
  wire_session_ = resp->wire_session_id();
  session_->wire_session_id = wire_session_;  // for the data-plane status
  token_ = resp->session_token();
  peer_data_.ipv4 = resp->data_ipv4();
  peer_data_.udp_port = static_cast<uint16_t>(resp->data_udp_port());
  same_host_ = !boot_id.empty() && resp->boot_id() == boot_id;
  // What the destination knows of its devices: arcs measured as it
  // prepared them, and write rates from earlier migrations into them.
  for (size_t i = 0;
       i < devs_.size() && i < static_cast<size_t>(resp->devices_size()); ++i) {
    const auto& m = resp->devices(static_cast<int>(i));
    if (m.arc_ns() > 0) devs_[i].dest_arc = absl::Nanoseconds(m.arc_ns());
    // A device never timed here is most like its counterpart there (still
    // a guess, and the bound says so).
    if (devs_[i].arc_source == Source::kGuess && m.arc_ns() > 0)
      devs_[i].arc = devs_[i].dest_arc;
    devs_[i].write_rate = m.write_bytes_per_second();
    // What the destination measured of this device's class as a source of
    // it: a pair where either side has read the class is not a guess.
    if (m.source_class().device_class() == devs_[i].history_key) {
      history_.Learn(m.source_class(), Origin::kPeer);
      UseHistory(devs_[i]);
    }
  }
  probe_stream_id_ = resp->probe_stream_id();
  dest_barrier_ = absl::Nanoseconds(resp->barrier_ns());
  // Until this side times one of its own, its barriers are most like the
  // destination's over as many devices.
  source_barrier_ = dest_barrier_;
  return AgreeProtection(*resp, *share, wanted);
}

absl::Status SourceEngine::AgreeProtection(const v1::HandshakeResponse& resp,
                                           const KeyShare& share,
                                           dataplane::Protection wanted) {
  // Frames go to the destination's port itself, never to every host.
  if (resp.data_mac().size() != 6 ||
      (static_cast<uint8_t>(resp.data_mac()[0]) & 1)) {
    return absl::FailedPreconditionError(
        "the destination named no unicast data-plane MAC address");
  }
  std::copy(resp.data_mac().begin(), resp.data_mac().end(),
            peer_data_.mac.begin());
  std::optional<dataplane::Protection> agreed =
      dataplane::ProtectionFromName(resp.cipher());
  if (!agreed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the destination chose an unknown cipher '", resp.cipher(), "'"));
  }
  if (*agreed == dataplane::Protection::kNone &&
      wanted != dataplane::Protection::kNone) {
    return absl::FailedPreconditionError(
        "the destination offered an unprotected data plane; this daemon's "
        "dataplane.cipher requires aes-256-gcm");
  }
  protection_ = *agreed;
  if (protection_ != dataplane::Protection::kNone) {
    absl::StatusOr<SessionKeys> keys =
        share.Derive(resp.key_share(), session_->id(), KeyShare::Side::kSource);
    if (!keys.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("data-plane keys: ", keys.status().message()));
    }
    keys_ = *keys;
  }
  session_->Update([&](v1::Session& p) {
    p.set_data_protection(dataplane::ProtectionName(protection_));
  });
  return absl::OkStatus();
}

absl::Status SourceEngine::RefreshStopCopyLength(Device& d) {
  absl::StatusOr<uint64_t> len = MemberOf(d).device->GetStopCopyLength();
  if (!len.ok()) {
    return absl::Status(
        len.status().code(),
        absl::StrCat(d.id, ": stop-copy length: ", len.status().message()));
  }
  d.stop_copy_length = *len;
  return absl::OkStatus();
}

absl::Status SourceEngine::AddStream(Device& d) {
  absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
      OpenStream(d.stream_id, d.data.get());
  if (!st.ok()) return st.status();
  d.stream = *st;
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<dataplane::Stream>> SourceEngine::OpenStream(
    uint32_t stream_id, vfio::DataSession* data) {
  dataplane::StreamSpec spec;
  spec.role = dataplane::StreamRole::kSend;
  spec.session_id = wire_session_;
  spec.session_token = token_;
  spec.protection = protection_;
  spec.send_key = keys_.send;
  spec.receive_key = keys_.receive;
  spec.stream_id = stream_id;
  spec.data = data;
  spec.peer = peer_data_;
  spec.cap = cap_;
  absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
      transport_.AddStream(spec);
  if (st.ok() && switching_) (*st)->SetUrgent(true);
  return st;
}

absl::Status SourceEngine::StartPrecopy() {
  cap_->SetRate(ReadPolicy().max_bandwidth);
  std::vector<Device*> pre;
  for (Device& d : devs_) {
    if (d.precopy) pre.push_back(&d);
  }
  PublishProgress(v1::PHASE_PRECOPY);
  // Progress and rates count from here: the handshake and the link probe
  // before may take longer than the stall timeout on a slow link (6 s on
  // two TCG guests), and were not this device's to make.
  const absl::Time now = clock_.Now();
  for (Device& d : devs_) d.last_progress = d.last_sample = now;
  if (pre.empty()) return absl::OkStatus();
  absl::Status s = SetStateAll(pre, DeviceState::kPreCopy, false, true);
  // RUNNING -> PRE_COPY is one arc of each of these very devices: better
  // than any history.
  // A barrier's own cost is the machine's, not a side's; noise only adds
  // to it, so the smaller of the two measurements stands for both.
  if (s.ok() && pre.size() > 1) {
    source_barrier_ = std::min(last_barrier_, dest_barrier_);
    dest_barrier_ = source_barrier_;
  }
  for (Device* d : pre) {
    if (d->last_arc <= absl::ZeroDuration()) continue;
    d->arc = d->last_arc;
    d->arc_source = Source::kMeasured;
    history_.RecordArc(d->history_key, d->arc);
  }
  return s;
}

absl::Status SourceEngine::SetStateAll(const std::vector<Device*>& devs,
                                       DeviceState target, bool serial,
                                       bool add_streams) {
  std::vector<size_t> members;
  for (const Device* d : devs)
    members.push_back(static_cast<size_t>(d - devs_.data()));
  std::vector<DeviceGroup::Arc> arcs;
  const absl::Time t0 = wall_.Now();
  absl::Status s = group_.Move(members, target,
                               serial ? DeviceGroup::Schedule::kSerial
                                      : DeviceGroup::Schedule::kParallel,
                               &arcs);
  // The barrier's own cost (dispatching the arcs to threads and joining
  // them): wall time past the slowest arc.
  const absl::Duration wall = wall_.Now() - t0;
  slowest_arc_ = absl::ZeroDuration();
  for (size_t i = 0; i < arcs.size(); ++i) {
    slowest_arc_ = std::max(slowest_arc_, arcs[i].took);
    devs[i]->last_arc = arcs[i].took;
    if (arcs[i].data) devs[i]->data = std::move(arcs[i].data);
  }
  if (!serial && devs.size() > 1)
    last_barrier_ = std::max(absl::ZeroDuration(), wall - slowest_arc_);
  if (!s.ok()) return absl::AbortedError(s.message());
  if (add_streams) {
    for (Device* d : devs) {
      if (d->data && !d->stream) {
        if (absl::Status a = AddStream(*d); !a.ok()) return a;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status SourceEngine::CheckPeer() const {
  if (monitor_) {
    if (absl::Status s = monitor_->Check(); !s.ok()) return s;
  }
  const absl::Duration liveness = peer_->deadlines().liveness;
  const int64_t now = MonotonicNanos();
  // The streams' stats are published every 10 ms: looking every 50 ms is
  // enough, and keeps the engine off the lock their worker takes.
  if (now - last_path_check_ns_ < 50'000'000) return absl::OkStatus();
  last_path_check_ns_ = now;
  for (const Device& d : devs_) {
    if (!d.stream || d.stream->state() != dataplane::Stream::kRunning) continue;
    const int64_t heard = d.stream->Stats().heard_ns;
    if (heard > 0 && absl::Nanoseconds(now - heard) > liveness) {
      return absl::UnavailableError(absl::StrCat(
          d.id, ": the destination's data plane has not answered for ",
          absl::FormatDuration(absl::Nanoseconds(now - heard)),
          " (liveness bound ", absl::FormatDuration(liveness),
          "): the data path is cut while the control channel lives"));
    }
  }
  return absl::OkStatus();
}

absl::Status SourceEngine::WaitStreams(const std::vector<Device*>& devs,
                                       const char* phase, absl::Time start) {
  std::vector<uint64_t> last(devs.size(), 0);
  std::vector<absl::Time> progress(devs.size(), clock_.Now());
  for (;;) {
    bool all = true;
    const dataplane::Stream* waiting = nullptr;  // the first not finished
    const absl::Time now = clock_.Now();
    for (size_t i = 0; i < devs.size(); ++i) {
      Device& d = *devs[i];
      const dataplane::Stream::State st = d.stream->state();
      if (st == dataplane::Stream::kFailed) {
        return absl::Status(
            d.stream->error().code(),
            absl::StrCat(d.id, ": ", d.stream->error().message()));
      }
      if (st == dataplane::Stream::kDone) {
        if (d.transfer == absl::ZeroDuration()) d.transfer = now - start;
        continue;
      }
      all = false;
      if (waiting == nullptr) waiting = d.stream.get();
      // Progress is what the peer acknowledged: retransmissions to a dead
      // peer do not count.
      const uint64_t acked = d.stream->Stats().sender.acked_bytes;
      if (acked != last[i]) {
        last[i] = acked;
        progress[i] = now;
      } else if (now - progress[i] > tun_.stall_timeout) {
        return absl::UnavailableError(
            absl::StrCat(d.id, ": ", phase, " stalled for ",
                         absl::FormatDuration(tun_.stall_timeout),
                         " (peer or data plane gone)"));
      }
    }
    if (all) return absl::OkStatus();
    if (Cancelled())
      return absl::CancelledError(absl::StrCat("cancelled during ", phase));
    if (absl::Status s = CheckPeer(); !s.ok()) return s;
    // Woken by the stream's end (the worker signals it once), else after a
    // tick for the checks above: the last stream's end is seen when it
    // happens, not at the next poll, and the engine does not wake 5000
    // times a second while the data plane works.
    (void)waiting->Wait(kWaitTick);
  }
}

absl::Status SourceEngine::StopCopy(const std::vector<Device*>& order,
                                    bool serial) {
  if (serial) {
    for (Device* d : order) {
      const absl::Time t = clock_.Now();
      if (absl::Status s = SetStateAll({d}, DeviceState::kStopCopy, true, true);
          !s.ok())
        return s;
      if (absl::Status s = WaitStreams({d}, "stop-copy", t); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  const absl::Time start = clock_.Now();
  if (absl::Status s = SetStateAll(order, DeviceState::kStopCopy, false, true);
      !s.ok())
    return s;
  return WaitStreams(order, "stop-copy", start);
}

absl::Status SourceEngine::Switchover() {
  const bool serial = req_.serial_schedule();
  std::vector<Device*> order;
  for (Device& d : devs_) order.push_back(&d);
  // The critical path first: the device with the most to send gets its
  // stream (and the worker's attention) first.
  std::sort(order.begin(), order.end(), [](const Device* a, const Device* b) {
    return a->remaining() > b->remaining();
  });
  const Prediction predicted = Predict();
  // The downtime runs from here: this session's frames go first on its
  // worker, under its switchover cap.
  switching_ = true;
  cap_->SetRate(ReadPolicy().switchover_bandwidth);
  for (Device& d : devs_) {
    if (d.stream) d.stream->SetUrgent(true);
  }
  PublishProgress(v1::PHASE_SWITCHOVER);
  for (Device& d : devs_) d.bytes_at_switchover = d.bytes_sent;
  SwitchoverTimes t;
  t.start = MonotonicNanos();
  // 1. P2P quiescence, as a barrier: no device stops before all are quiet.
  if (absl::Status s =
          SetStateAll(order, DeviceState::kPreCopyP2P, serial, false);
      !s.ok()) {
    return s;
  }
  t.quiesced = MonotonicNanos();
  if (Cancelled())
    return absl::CancelledError("cancelled during the P2P barrier");
  // 2. STOP_COPY and the remaining state, streamed in parallel (or, as the
  // baseline, one device after another).
  PublishProgress(v1::PHASE_STOPCOPY);
  if (absl::Status s = StopCopy(order, serial); !s.ok()) return s;
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
  ReleaseStreams();
  if (absl::Status s = SetStateAll(order, DeviceState::kStop, false, false);
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
  Report(*resp, t, predicted, serial);
  return absl::OkStatus();
}

void SourceEngine::ReleaseStreams() {
  // The worker may be inside a read: a data session is freed once it lets
  // go (if it stalled past the wait, its stream keeps the session).
  for (Device& d : devs_) {
    if (d.stream && !d.stream->CancelAndWait(absl::Seconds(5), &d.data)) {
      spdlog::warn(
          "{}: {}: the data plane's worker did not let go of the stream "
          "within 5s; its data session is closed when it does",
          session_->name(), d.id);
    }
    d.stream.reset();
    d.data.reset();
  }
}

void SourceEngine::Rollback(const absl::Status& why) {
  spdlog::warn("{}: rolling back: {}", session_->name(), why.message());
  ReleaseStreams();
  // Every source device back to RUNNING with its state.
  if (absl::Status r = group_.Recover(); !r.ok())
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

}  // namespace vmig::daemon
