#include "daemon/source_engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
    EngineHistory& history, std::unique_ptr<PeerClient> peer, Clock& clock,
    EngineTunables tunables)
    : session_(std::move(session)),
      req_(std::move(request)),
      transport_(transport),
      registry_(registry),
      history_(history),
      peer_(std::move(peer)),
      clock_(clock),
      tun_(tunables) {
  link_rate_ = history_.link();
  if (history_.arc() > absl::ZeroDuration()) transition_ = history_.arc();
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

bool SourceEngine::Cancelled() const {
  return session_->cancel_requested.load();
}

void SourceEngine::RequestCancel() {
  session_->cancel_requested.store(true);
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
  absl::Status s = Handshake();
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
  if (end_phase_ == v1::PHASE_UNSPECIFIED) {
    end_phase_ = v1::PHASE_FAILED;
    end_error_ = std::string(s.message());
  }
  // One update: a watcher that sees the terminal phase sees its report or
  // error with it.
  PublishProgress(end_phase_, [&](v1::Session& p) {
    p.set_phase(end_phase_);
    if (end_phase_ == v1::PHASE_COMPLETED) {
      *p.mutable_report() = end_report_;
    } else {
      p.set_error(end_error_);
    }
  });
}

absl::Status SourceEngine::Handshake() {
  PublishProgress(v1::PHASE_HANDSHAKE);
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
  if (std::shared_ptr<dataplane::Port> port = transport_.port()) {
    hr.set_source_data_mac(std::string(port->mac().begin(), port->mac().end()));
  }
  for (Device& d : devs_) {
    auto* x = hr.add_devices();
    x->set_destination(d.peer_id);
    *x->mutable_flags() = ToProto(MemberOf(d).flags);
    if (absl::Status s = RefreshStopCopyLength(d); !s.ok()) return s;
    x->set_stop_copy_length(d.stop_copy_length);
  }
  // Sent, the destination may have accepted it even if the answer is lost:
  // a rollback from here on tells it to abort.
  handshake_sent_ = true;
  absl::StatusOr<v1::HandshakeResponse> resp = peer_->Handshake(hr);
  if (!resp.ok()) return resp.status();
  // From here both sides hold the session: each watches the other.
  const PeerDeadlines dl = peer_->deadlines();
  monitor_ = std::make_unique<PeerMonitor>(
      *peer_, session_->id(), absl::StrCat("the destination ", req_.peer()),
      dl.heartbeat_interval, dl.liveness);
  wire_session_ = resp->wire_session_id();
  session_->wire_session_id = wire_session_;  // for the data-plane status
  token_ = resp->session_token();
  peer_data_.ipv4 = resp->data_ipv4();
  peer_data_.udp_port = static_cast<uint16_t>(resp->data_udp_port());
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
  dataplane::StreamSpec spec;
  spec.role = dataplane::StreamRole::kSend;
  spec.session_id = wire_session_;
  spec.session_token = token_;
  spec.protection = protection_;
  spec.send_key = keys_.send;
  spec.receive_key = keys_.receive;
  spec.stream_id = d.stream_id;
  spec.data = d.data.get();
  spec.peer = peer_data_;
  absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
      transport_.AddStream(spec);
  if (!st.ok()) return st.status();
  d.stream = *st;
  return absl::OkStatus();
}

absl::Status SourceEngine::StartPrecopy() {
  std::vector<Device*> pre;
  for (Device& d : devs_) {
    if (d.precopy) pre.push_back(&d);
  }
  PublishProgress(v1::PHASE_PRECOPY);
  if (pre.empty()) return absl::OkStatus();
  absl::Status s = SetStateAll(pre, DeviceState::kPreCopy, false, true);
  // RUNNING -> PRE_COPY is one arc of these very devices: the slowest one's
  // is a better estimate than the history, which an earlier session on
  // other devices (or other settings) may have left.
  transition_ = std::max(absl::Milliseconds(1), slowest_arc_);
  return s;
}

absl::Status SourceEngine::SetStateAll(const std::vector<Device*>& devs,
                                       DeviceState target, bool serial,
                                       bool add_streams) {
  std::vector<size_t> members;
  for (const Device* d : devs)
    members.push_back(static_cast<size_t>(d - devs_.data()));
  std::vector<DeviceGroup::Arc> arcs;
  absl::Status s = group_.Move(members, target,
                               serial ? DeviceGroup::Schedule::kSerial
                                      : DeviceGroup::Schedule::kParallel,
                               &arcs);
  slowest_arc_ = absl::ZeroDuration();
  for (size_t i = 0; i < arcs.size(); ++i) {
    slowest_arc_ = std::max(slowest_arc_, arcs[i].took);
    if (arcs[i].data) devs[i]->data = std::move(arcs[i].data);
  }
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

absl::Duration SourceEngine::Predict() const {
  std::vector<DeviceTerms> terms;
  for (const Device& d : devs_)
    terms.push_back({d.remaining(), d.read_rate, d.precopy});
  return PredictDowntime(terms,
                         {link_rate_, transition_, req_.serial_schedule()});
}

void SourceEngine::PublishProgress(
    v1::Phase phase, const std::function<void(v1::Session&)>& also) {
  for (Device& d : devs_) {
    if (d.stream) d.bytes_sent = d.stream->Stats().device_bytes;
  }
  const absl::Duration predicted = Predict();
  std::vector<absl::StatusOr<DeviceState>> states;
  for (const Device& d : devs_)
    states.push_back(MemberOf(d).device->GetState());
  session_->Update([&](v1::Session& p) {
    if (!IsTerminal(p.phase())) p.set_phase(phase);
    ToProto(predicted, p.mutable_predicted_downtime());
    p.clear_devices();
    for (size_t i = 0; i < devs_.size(); ++i) {
      const Device& d = devs_[i];
      auto* x = p.add_devices();
      x->set_device(absl::StrCat("devices/", d.id));
      x->set_peer_device(d.peer_id);
      if (states[i].ok()) x->set_state(ToProto(*states[i]));
      x->set_bytes_transferred(d.bytes_sent);
      x->set_initial_bytes(d.initial_bytes);
      x->set_dirty_bytes(d.dirty_bytes);
      x->set_stop_copy_length(d.stop_copy_length);
      x->set_bytes_per_second(d.read_rate);
    }
    if (also) also(p);
  });
}

absl::Status SourceEngine::SamplePrecopy(absl::Time now, bool* all_initial,
                                         uint64_t* total_sent) {
  *all_initial = true;
  *total_sent = 0;
  for (Device& d : devs_) {
    if (!d.precopy) {
      if (absl::Status s = RefreshStopCopyLength(d); !s.ok()) return s;
      continue;
    }
    absl::StatusOr<vfio::PrecopyInfo> info = d.data->GetPrecopyInfo();
    if (!info.ok())
      return absl::Status(info.status().code(),
                          absl::StrCat(d.id, ": ", info.status().message()));
    const uint64_t sent = d.stream->Stats().device_bytes;
    if (info->reinit) {
      // New initial data: switchover-ack must be earned again.
      spdlog::info("{}: {} raised REINIT at stream byte {}", session_->name(),
                   d.id, sent);
      d.initial_done = false;
      ack_received_ = false;
    }
    d.initial_bytes = info->initial_bytes;
    d.dirty_bytes = info->dirty_bytes;
    if (!d.initial_done && info->initial_bytes == 0) {
      d.initial_done = true;
      d.initial_offset = sent;
    }
    *all_initial = *all_initial && d.initial_done;
    if (sent > d.last_bytes) {
      d.last_progress = now;
    } else if (d.initial_bytes + d.dirty_bytes > 0 &&
               now - d.last_progress > tun_.stall_timeout) {
      return absl::UnavailableError(
          absl::StrCat(d.id, ": no pre-copy progress for ",
                       absl::FormatDuration(tun_.stall_timeout),
                       " (peer or data plane gone)"));
    }
    if (d.initial_bytes > 0 && now > d.last_sample) {
      // The device had data all along: its read rate is what it managed
      // over the interval since its own last sample.
      const double r = static_cast<double>(sent - d.last_bytes) /
                       absl::ToDoubleSeconds(now - d.last_sample);
      if (r > 0)
        d.read_rate = d.read_rate > 0 ? 0.7 * d.read_rate + 0.3 * r : r;
    }
    d.last_bytes = sent;
    d.last_sample = now;
    *total_sent += sent;
  }
  return absl::OkStatus();
}

absl::Status SourceEngine::AskSwitchoverAck() {
  v1::SwitchoverAckRequest ar;
  ar.set_session_id(session_->id());
  for (const Device& d : devs_) ar.add_initial_data_offsets(d.initial_offset);
  absl::StatusOr<v1::SwitchoverAckResponse> resp = peer_->SwitchoverAck(ar);
  if (!resp.ok()) return resp.status();
  ack_received_ = resp->acknowledged();
  return absl::OkStatus();
}

absl::Status SourceEngine::Precopy() {
  const absl::Time start = clock_.Now();
  const absl::Duration budget = FromProto(req_.downtime_budget());
  const absl::Duration max_precopy =
      req_.precopy().has_max_precopy() ? FromProto(req_.precopy().max_precopy())
                                       : absl::Seconds(60);
  const bool manual = req_.switchover_mode() == v1::SWITCHOVER_MODE_MANUAL;
  const bool fail_on_timeout =
      req_.precopy().on_timeout() == v1::PrecopyPolicy::ON_TIMEOUT_FAIL;
  bool any_precopy = false;
  for (const Device& d : devs_) any_precopy = any_precopy || d.precopy;
  last_link_sample_ = start;
  for (;;) {
    if (Cancelled()) return absl::CancelledError("cancelled during pre-copy");
    if (absl::Status s = CheckPeer(); !s.ok()) return s;
    const absl::Time now = clock_.Now();
    bool all_initial = true;
    uint64_t total = 0;
    if (absl::Status s = SamplePrecopy(now, &all_initial, &total); !s.ok())
      return s;
    if (now - last_link_sample_ > absl::Milliseconds(50)) {
      if (total > last_link_total_) {
        const double r = static_cast<double>(total - last_link_total_) /
                         absl::ToDoubleSeconds(now - last_link_sample_);
        // Pre-copy often does not fill the link (it carries only what is
        // dirtied): the link's capacity is the most it was seen to carry.
        link_rate_ = std::max(link_rate_, r);
      }
      last_link_total_ = total;
      last_link_sample_ = now;
    }
    // Switchover-ack: the destination has loaded every device's initial data.
    if (all_initial && !ack_received_ &&
        now - last_ack_try_ > absl::Milliseconds(20)) {
      last_ack_try_ = now;
      if (absl::Status s = AskSwitchoverAck(); !s.ok()) return s;
    }
    const absl::Duration predicted = Predict();
    const bool ready = (!any_precopy || ack_received_) && predicted <= budget;
    PublishProgress(manual && ready ? v1::PHASE_READY : v1::PHASE_PRECOPY);
    // Every way out says why, with the numbers (the switchover decision).
    auto decide = [&](const char* why) {
      spdlog::info(
          "{}: switching over: {}; predicted downtime {:.1f} ms, budget "
          "{:.1f} ms, pre-copy ran {:.1f} s, link {:.1f} MB/s",
          session_->name(), why, absl::ToDoubleMilliseconds(predicted),
          absl::ToDoubleMilliseconds(budget),
          absl::ToDoubleSeconds(now - start), link_rate_ / 1e6);
      return absl::OkStatus();
    };
    if (session_->switchover_requested.load())
      return decide("requested (manual)");
    if (!manual && ready) return decide("the prediction fits the budget");
    if (!any_precopy && !manual) {
      // Nothing can pre-copy, so waiting cannot shrink the stop-copy state.
      if (!fail_on_timeout)
        return decide("no device supports PRE_COPY (waiting cannot help)");
      return absl::FailedPreconditionError(
          absl::StrCat("predicted downtime ", absl::FormatDuration(predicted),
                       " exceeds the budget ", absl::FormatDuration(budget),
                       " and no device supports PRE_COPY"));
    }
    if (now - start > max_precopy) {
      if (fail_on_timeout) {
        return absl::DeadlineExceededError(absl::StrCat(
            "pre-copy ran ", absl::FormatDuration(max_precopy),
            " without the predicted downtime ", absl::FormatDuration(predicted),
            " fitting the budget ", absl::FormatDuration(budget)));
      }
      if (!manual)
        return decide("precopy.max_precopy reached (on_timeout SWITCH)");
    }
    clock_.SleepFor(tun_.monitor_interval);
  }
}

absl::Status SourceEngine::WaitStreams(const std::vector<Device*>& devs,
                                       const char* phase, absl::Time start) {
  std::vector<uint64_t> last(devs.size(), 0);
  std::vector<absl::Time> progress(devs.size(), clock_.Now());
  for (;;) {
    bool all = true;
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
    clock_.SleepFor(absl::Microseconds(200));
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
  const absl::Duration predicted = Predict();
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
  t.end = resp->last_running_mono_ns() > 0 ? resp->last_running_mono_ns()
                                           : MonotonicNanos();
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
  // The worker may be inside a read: the data sessions stay until it lets go.
  for (Device& d : devs_) {
    if (d.stream) d.stream->CancelAndWait(absl::Seconds(5));
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
