#include "daemon/source_engine.h"

#include <time.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/fmt_absl.h"
#include "common/grpc_status.h"
#include "daemon/proto_convert.h"
#include "grpcpp/grpcpp.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {
namespace {

using vfio::DeviceState;

}  // namespace

SourceEngine::SourceEngine(std::shared_ptr<SessionRecord> session,
                           v1::StartMigrationRequest request,
                           dataplane::Transport& transport,
                           DeviceRegistry& registry, EngineHistory& history,
                           EngineTunables tunables)
    : session_(std::move(session)),
      req_(std::move(request)),
      transport_(transport),
      registry_(registry),
      history_(history),
      tun_(tunables) {
  link_rate_ = history_.link();
  if (history_.arc() > absl::ZeroDuration()) transition_ = history_.arc();
}

bool SourceEngine::Cancelled() const {
  return session_->cancel_requested.load();
}

void SourceEngine::Run() {
  devs_.resize(session_->devices.size());
  for (size_t i = 0; i < devs_.size(); ++i) {
    Device& d = devs_[i];
    d.id = session_->device_ids[i];
    d.peer_id = req_.devices(static_cast<int>(i)).destination();
    d.dev = session_->devices[i];
    d.flags = d.dev->GetMigrationFlags().value_or(vfio::MigrationFlags());
    d.precopy = d.flags.has(vfio::kMigPreCopy);
    d.stream_id = static_cast<uint32_t>(i);
    d.last_progress = absl::Now();
    d.last_sample = d.last_progress;
  }
  absl::Status s = Handshake();
  if (s.ok()) s = StartPrecopy();
  if (s.ok()) s = Precopy();
  if (s.ok()) s = Switchover();
  if (!s.ok() && !committed_) Rollback(s);
  ReleaseStreams();
  registry_.Release(session_->device_ids, session_->name());
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
  auto channel =
      grpc::CreateChannel(req_.peer(), grpc::InsecureChannelCredentials());
  peer_ = v1::PeerService::NewStub(channel);
  v1::HandshakeRequest hr;
  hr.set_session_id(session_->id());
  hr.set_version(1);
  hr.set_source_data_ipv4(transport_.local().ipv4);
  hr.set_source_data_udp_port(transport_.local().udp_port);
  for (Device& d : devs_) {
    auto* x = hr.add_devices();
    x->set_destination(d.peer_id);
    *x->mutable_flags() = ToProto(d.flags);
    d.stop_copy_length = d.dev->GetStopCopyLength().value_or(0);
    x->set_stop_copy_length(d.stop_copy_length);
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::HandshakeResponse resp;
  absl::Status s =
      FromGrpc(peer_->Handshake(&ctx, hr, &resp), "handshake with the peer");
  if (!s.ok()) return s;
  wire_session_ = resp.wire_session_id();
  session_->wire_session_id = wire_session_;  // for the data-plane status
  token_ = resp.session_token();
  peer_data_.ipv4 = resp.data_ipv4();
  peer_data_.udp_port = static_cast<uint16_t>(resp.data_udp_port());
  return absl::OkStatus();
}

absl::Status SourceEngine::AddStream(Device& d) {
  dataplane::StreamSpec spec;
  spec.role = dataplane::StreamRole::kSend;
  spec.session_id = wire_session_;
  spec.session_token = token_;
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

// Moves devices to `target`: in parallel (one thread each, so that a barrier
// costs one transition) or one after another. New data sessions get streams.
absl::Status SourceEngine::SetStateAll(const std::vector<Device*>& devs,
                                       DeviceState target, bool serial,
                                       bool add_streams) {
  std::vector<absl::Status> results(devs.size());
  std::vector<absl::Duration> durations(devs.size());
  auto one = [&](size_t i) {
    Device& d = *devs[i];
    DeviceState t = target;
    // Without the optional states a device takes the nearest one it has.
    if (t == DeviceState::kPreCopyP2P && !d.precopy)
      t = DeviceState::kRunningP2P;
    if (t == DeviceState::kPreCopyP2P && !d.flags.has(vfio::kMigP2P))
      t = DeviceState::kPreCopy;
    if (t == DeviceState::kRunningP2P && !d.flags.has(vfio::kMigP2P))
      t = DeviceState::kRunning;
    const absl::Time arc_start = absl::Now();
    auto r = d.dev->SetState(t);
    durations[i] = absl::Now() - arc_start;
    if (!r.ok()) {
      results[i] =
          absl::Status(r.status().code(),
                       absl::StrCat(d.id, " -> ", vfio::DeviceStateName(t),
                                    ": ", r.status().message()));
    } else if (*r) {
      d.data = std::move(*r);
    }
  };
  if (serial) {
    for (size_t i = 0; i < devs.size(); ++i) one(i);
  } else {
    ParallelFor(devs.size(), one);
  }
  slowest_arc_ = absl::ZeroDuration();
  for (absl::Duration d : durations) slowest_arc_ = std::max(slowest_arc_, d);
  std::vector<std::string> errors;
  for (const auto& r : results) {
    if (!r.ok()) errors.emplace_back(r.message());
  }
  if (!errors.empty()) return absl::AbortedError(absl::StrJoin(errors, "; "));
  if (add_streams) {
    for (Device* d : devs) {
      if (d->data && !d->stream) {
        if (absl::Status s = AddStream(*d); !s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Duration SourceEngine::Predict() const {
  // Quiesce (one parallel transition), STOP_COPY (one, or two arcs for
  // devices without PRE_COPY), the transfer of what is left bounded by the
  // slowest device and by the link, then the destination's load and resume
  // (three arcs, in parallel).
  double slowest = 0, total = 0;
  bool non_precopy = false;
  const double link = link_rate_ > 0 ? link_rate_ : 1e9;
  for (const Device& d : devs_) {
    const double left = static_cast<double>(d.remaining());
    non_precopy = non_precopy || !d.precopy;
    const double rate = d.read_rate > 0 ? d.read_rate : link;
    slowest = std::max(slowest, left / rate);
    total += left;
  }
  const double arcs = non_precopy ? 6 : 5;
  if (req_.serial_schedule()) {
    // One device after another: every device pays its arcs and its bytes.
    double serial = 0;
    for (const Device& d : devs_) {
      const double rate = std::min(d.read_rate > 0 ? d.read_rate : link, link);
      serial += static_cast<double>(d.remaining()) / rate;
    }
    return transition_ * (arcs * static_cast<double>(devs_.size())) +
           absl::Seconds(serial);
  }
  const absl::Duration transfer =
      absl::Seconds(std::max(slowest, total / link));
  return transition_ * arcs + transfer;
}

void SourceEngine::PublishProgress(
    v1::Phase phase, const std::function<void(v1::Session&)>& also) {
  for (Device& d : devs_) {
    if (d.stream) d.bytes_sent = d.stream->Stats().device_bytes;
  }
  const absl::Duration predicted = Predict();
  session_->Update([&](v1::Session& p) {
    if (!IsTerminal(p.phase())) p.set_phase(phase);
    ToProto(predicted, p.mutable_predicted_downtime());
    p.clear_devices();
    for (const Device& d : devs_) {
      auto* x = p.add_devices();
      x->set_device(absl::StrCat("devices/", d.id));
      x->set_peer_device(d.peer_id);
      if (auto st = d.dev->GetState(); st.ok()) x->set_state(ToProto(*st));
      x->set_bytes_transferred(d.bytes_sent);
      x->set_initial_bytes(d.initial_bytes);
      x->set_dirty_bytes(d.dirty_bytes);
      x->set_stop_copy_length(d.stop_copy_length);
      x->set_bytes_per_second(d.read_rate);
    }
    if (also) also(p);
  });
}

absl::Status SourceEngine::Precopy() {
  const absl::Time start = absl::Now();
  const absl::Duration budget = FromProto(req_.downtime_budget());
  const absl::Duration max_precopy =
      req_.precopy().has_max_precopy() ? FromProto(req_.precopy().max_precopy())
                                       : absl::Seconds(60);
  const bool manual = req_.switchover_mode() == v1::SWITCHOVER_MODE_MANUAL;
  bool any_precopy = false;
  for (const Device& d : devs_) any_precopy = any_precopy || d.precopy;
  uint64_t last_total = 0;
  absl::Time last_sample = start;
  absl::Time last_ack_try = absl::InfinitePast();
  for (;;) {
    if (Cancelled()) return absl::CancelledError("cancelled during pre-copy");
    const absl::Time now = absl::Now();
    // PRECOPY_INFO, MIG_DATA_SIZE and the measured rates.
    bool all_initial = true;
    uint64_t total = 0;
    for (Device& d : devs_) {
      if (!d.precopy) {
        d.stop_copy_length = d.dev->GetStopCopyLength().value_or(100ull << 30);
        continue;
      }
      absl::StatusOr<vfio::PrecopyInfo> info = d.data->GetPrecopyInfo();
      if (!info.ok())
        return absl::Status(info.status().code(),
                            absl::StrCat(d.id, ": ", info.status().message()));
      const uint64_t sent = d.stream->Stats().device_bytes;
      if (info->reinit) {
        // New initial data: switchover-ack must be earned again.
        d.initial_done = false;
        ack_received_ = false;
      }
      d.initial_bytes = info->initial_bytes;
      d.dirty_bytes = info->dirty_bytes;
      if (!d.initial_done && info->initial_bytes == 0) {
        d.initial_done = true;
        d.initial_offset = sent;
      }
      all_initial = all_initial && d.initial_done;
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
      total += sent;
    }
    if (now - last_sample > absl::Milliseconds(50) && total > last_total) {
      const double r = static_cast<double>(total - last_total) /
                       absl::ToDoubleSeconds(now - last_sample);
      // Pre-copy often does not fill the link (it carries only what is
      // dirtied): the link's capacity is the most it has been seen to carry.
      link_rate_ = std::max(link_rate_, r);
    }
    if (now - last_sample > absl::Milliseconds(50)) {
      last_total = total;
      last_sample = now;
    }
    // Switchover-ack: the destination has loaded every device's initial data.
    if (all_initial && !ack_received_ &&
        now - last_ack_try > absl::Milliseconds(20)) {
      last_ack_try = now;
      v1::SwitchoverAckRequest ar;
      ar.set_session_id(session_->id());
      for (const Device& d : devs_)
        ar.add_initial_data_offsets(d.initial_offset);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
      v1::SwitchoverAckResponse resp;
      absl::Status s =
          FromGrpc(peer_->SwitchoverAck(&ctx, ar, &resp), "switchover-ack");
      if (!s.ok()) return s;
      ack_received_ = resp.acknowledged();
    }
    const absl::Duration predicted = Predict();
    const bool ready = (!any_precopy || ack_received_) && predicted <= budget;
    PublishProgress(manual && ready ? v1::PHASE_READY : v1::PHASE_PRECOPY);
    if (session_->switchover_requested.load()) return absl::OkStatus();
    if (!manual && ready) return absl::OkStatus();
    if (!any_precopy && !manual) {
      // Nothing can pre-copy, so waiting cannot shrink the stop-copy state.
      if (req_.precopy().on_timeout() == v1::PrecopyPolicy::ON_TIMEOUT_FAIL) {
        return absl::FailedPreconditionError(
            absl::StrCat("predicted downtime ", absl::FormatDuration(predicted),
                         " exceeds the budget ", absl::FormatDuration(budget),
                         " and no device supports PRE_COPY"));
      }
      return absl::OkStatus();
    }
    if (now - start > max_precopy) {
      if (req_.precopy().on_timeout() == v1::PrecopyPolicy::ON_TIMEOUT_FAIL) {
        return absl::DeadlineExceededError(absl::StrCat(
            "pre-copy ran ", absl::FormatDuration(max_precopy),
            " without the predicted downtime ", absl::FormatDuration(predicted),
            " fitting the budget ", absl::FormatDuration(budget)));
      }
      if (!manual) return absl::OkStatus();
    }
    absl::SleepFor(tun_.monitor_interval);
  }
}

absl::Status SourceEngine::WaitStreams(const std::vector<Device*>& devs,
                                       const char* phase, absl::Time start) {
  std::vector<uint64_t> last(devs.size(), 0);
  std::vector<absl::Time> progress(devs.size(), absl::Now());
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < devs.size(); ++i) {
      Device& d = *devs[i];
      const dataplane::Stream::State st = d.stream->state();
      if (st == dataplane::Stream::kFailed) {
        return absl::Status(
            d.stream->error().code(),
            absl::StrCat(d.id, ": ", d.stream->error().message()));
      }
      if (st == dataplane::Stream::kDone) {
        if (d.transfer == absl::ZeroDuration())
          d.transfer = absl::Now() - start;
        continue;
      }
      all = false;
      // Progress is what the peer acknowledged: retransmissions to a dead
      // peer do not count.
      const uint64_t acked = d.stream->Stats().sender.acked_bytes;
      if (acked != last[i]) {
        last[i] = acked;
        progress[i] = absl::Now();
      } else if (absl::Now() - progress[i] > tun_.stall_timeout) {
        return absl::UnavailableError(
            absl::StrCat(d.id, ": ", phase, " stalled for ",
                         absl::FormatDuration(tun_.stall_timeout),
                         " (peer or data plane gone)"));
      }
    }
    if (all) return absl::OkStatus();
    if (Cancelled())
      return absl::CancelledError(absl::StrCat("cancelled during ", phase));
    absl::SleepFor(absl::Microseconds(200));
  }
}

absl::Status SourceEngine::Switchover() {
  const bool serial = req_.serial_schedule();
  std::vector<Device*> all;
  for (Device& d : devs_) all.push_back(&d);
  // The critical path first: the device with the most to send gets its
  // stream (and the worker's attention) first.
  std::sort(all.begin(), all.end(), [](const Device* a, const Device* b) {
    return a->remaining() > b->remaining();
  });
  const absl::Duration predicted = Predict();
  PublishProgress(v1::PHASE_SWITCHOVER);
  for (Device& d : devs_) d.bytes_at_switchover = d.bytes_sent;
  const int64_t t0 = MonotonicNanos();
  // 1. P2P quiescence, as a barrier: no device stops before all are quiet.
  if (absl::Status s =
          SetStateAll(all, DeviceState::kPreCopyP2P, serial, false);
      !s.ok()) {
    return s;
  }
  const int64_t quiesced = MonotonicNanos();
  if (Cancelled())
    return absl::CancelledError("cancelled during the P2P barrier");
  // 2. STOP_COPY and the remaining state, streamed in parallel (or, as the
  // baseline, one device after another).
  PublishProgress(v1::PHASE_STOPCOPY);
  const absl::Time stop_copy_start = absl::Now();
  if (serial) {
    for (Device* d : all) {
      const absl::Time t = absl::Now();
      if (absl::Status s = SetStateAll({d}, DeviceState::kStopCopy, true, true);
          !s.ok())
        return s;
      if (absl::Status s = WaitStreams({d}, "stop-copy", t); !s.ok()) return s;
    }
  } else {
    if (absl::Status s = SetStateAll(all, DeviceState::kStopCopy, false, true);
        !s.ok())
      return s;
    if (absl::Status s = WaitStreams(all, "stop-copy", stop_copy_start);
        !s.ok())
      return s;
  }
  const int64_t transferred = MonotonicNanos();
  if (Cancelled()) return absl::CancelledError("cancelled before the commit");
  // 3. Commit: the destination loads and resumes in lockstep. From here on
  // the destination owns the state: no rollback.
  v1::CommitRequest cr;
  cr.set_session_id(session_->id());
  cr.set_serial(serial);
  for (Device& d : devs_) {
    const dataplane::StreamStats st = d.stream->Stats();
    d.caught_up = st.caught_up;
    d.retransmits = st.sender.retransmits;
    d.stream_bytes = st.device_bytes;
    d.bytes_sent = d.stream_bytes;
    cr.add_stream_bytes(d.stream_bytes);
  }
  session_->committing.store(true);
  grpc::ClientContext ctx;
  ctx.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(tun_.rpc_timeout)));
  v1::CommitResponse resp;
  grpc::Status gs = peer_->Commit(&ctx, cr, &resp);
  if (!gs.ok()) {
    session_->committing.store(false);
    return FromGrpc(gs, "commit");
  }
  committed_ = true;
  {
    uint64_t moved = 0;
    for (Device& d : devs_)
      moved += d.stream->Stats().device_bytes - d.bytes_at_switchover;
    const double secs = static_cast<double>(transferred - quiesced) / 1e9;
    // Only a parallel switchover measures one arc and the link (a serial one
    // measures N arcs and each device's read rate).
    if (!serial && moved > (1u << 20) && secs > 0) {
      history_.Record(static_cast<double>(moved) / secs,
                      absl::Nanoseconds(quiesced - t0));
    }
  }
  const int64_t end = resp.last_running_mono_ns() > 0
                          ? resp.last_running_mono_ns()
                          : MonotonicNanos();
  // 4. Off the downtime path: the source's devices leave the saving group.
  ReleaseStreams();
  (void)SetStateAll(all, DeviceState::kStop, false, false);
  v1::DowntimeReport report;
  ToProto(absl::Nanoseconds(end - t0), report.mutable_downtime());
  ToProto(predicted, report.mutable_predicted());
  ToProto(absl::Nanoseconds(quiesced - t0), report.mutable_quiesce());
  ToProto(absl::Nanoseconds(transferred - quiesced),
          report.mutable_stop_copy_transfer());
  ToProto(absl::Nanoseconds(resp.load_ns()), report.mutable_destination_load());
  ToProto(absl::Nanoseconds(resp.resume_ns()), report.mutable_resume());
  for (const Device& d : devs_) {
    report.set_precopy_rounds(std::max(report.precopy_rounds(), d.caught_up));
    report.set_retransmitted_frames(report.retransmitted_frames() +
                                    d.retransmits);
    auto* x = report.add_devices();
    x->set_device(absl::StrCat("devices/", d.id));
    // What the device streamed after the switchover began, and how long
    // from STOP_COPY to its last byte written at the destination.
    ToProto(d.transfer, x->mutable_transfer());
    x->set_bytes(d.stream_bytes - d.bytes_at_switchover);
  }
  spdlog::info(
      "{}: downtime {:.1f} ms (predicted {:.1f}): quiesce {:.1f}, stop-copy "
      "{:.1f}, "
      "load {:.1f}, resume {:.1f}",
      session_->name(), (end - t0) / 1e6, absl::ToDoubleMilliseconds(predicted),
      (quiesced - t0) / 1e6, (transferred - quiesced) / 1e6,
      resp.load_ns() / 1e6, resp.resume_ns() / 1e6);
  end_phase_ = v1::PHASE_COMPLETED;
  end_report_ = std::move(report);
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
  // Every source device back to RUNNING with its state; a device in ERROR
  // (or one that refuses the way back) is reset, which keeps its state.
  ParallelFor(devs_.size(), [&](size_t i) {
    Device& d = devs_[i];
    absl::StatusOr<DeviceState> st = d.dev->GetState();
    if (st.ok() && *st == DeviceState::kRunning) return;
    if (!st.ok() || *st == DeviceState::kError ||
        !d.dev->SetState(DeviceState::kRunning).ok()) {
      if (absl::Status r = d.dev->Reset(); !r.ok()) {
        spdlog::error("{}: reset of {} failed: {}", session_->name(), d.id,
                      r.message());
      }
    }
  });
  if (peer_) {
    v1::AbortRequest ar;
    ar.set_session_id(session_->id());
    ar.set_reason(std::string(why.message()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(2));
    v1::AbortResponse resp;
    (void)peer_->Abort(&ctx, ar, &resp);
  }
  end_phase_ = why.code() == absl::StatusCode::kCancelled ? v1::PHASE_CANCELLED
                                                          : v1::PHASE_FAILED;
  end_error_ = std::string(why.message());
}

}  // namespace vmig::daemon
