// The source engine before the switchover: the link probe, pre-copy with
// its measurements, the prediction and the switchover decision, and the
// progress that explains it.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fmt_absl.h"
#include "daemon/model/switchover_policy.h"
#include "daemon/source/source_engine.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

using vfio::DeviceState;

namespace {

double MiB(double bytes) { return bytes / (1 << 20); }
double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

absl::Status SourceEngine::ProbeLink() {
  // The destination offers a probe stream only when asked for one.
  if (tun_.probe_bytes == 0 || probe_stream_id_ == 0) return absl::OkStatus();
  // The probe measures the link the stop-copy will have: under the
  // switchover cap, not pre-copy's.
  cap_->SetRate(ReadPolicy().switchover_bandwidth);
  std::unique_ptr<vfio::DataSession> source =
      std::make_unique<ProbeSource>(tun_.probe_bytes);
  absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
      OpenStream(probe_stream_id_, source.get());
  if (!st.ok()) return st.status();
  std::shared_ptr<dataplane::Stream> probe = std::move(*st);
  // It measures the link the switchover will have, which goes before
  // other sessions' pre-copy.
  probe->SetUrgent(true);
  absl::Status result = absl::OkStatus();
  uint64_t last_acked = 0;
  // A measurement of the data plane: it runs on real time, whatever clock
  // the engine's policy runs on.
  absl::Time progress = wall_.Now();
  for (;;) {
    const dataplane::Stream::State state = probe->state();
    if (state == dataplane::Stream::kDone) break;
    if (state == dataplane::Stream::kFailed) {
      result =
          absl::Status(probe->error().code(),
                       absl::StrCat("link probe: ", probe->error().message()));
      break;
    }
    if (Cancelled()) {
      result = absl::CancelledError("cancelled during the link probe");
      break;
    }
    if (absl::Status s = CheckPeer(); !s.ok()) {
      result = s;
      break;
    }
    const uint64_t acked = probe->Stats().sender.acked_bytes;
    const absl::Time now = wall_.Now();
    if (acked != last_acked) {
      last_acked = acked;
      progress = now;
    } else if (now - progress > tun_.stall_timeout) {
      result = absl::UnavailableError(absl::StrCat(
          "link probe stalled for ", absl::FormatDuration(tun_.stall_timeout),
          " (peer or data plane gone)"));
      break;
    }
    (void)probe->Wait(kWaitTick);  // woken by the probe's end
  }
  const dataplane::StreamStats stats = probe->Stats();
  // The source is freed once the worker lets go of it.
  probe->CancelAndWait(absl::Seconds(5), &source);
  if (!result.ok()) return result;
  const double secs =
      static_cast<double>(stats.finished_ns - stats.started_ns) / 1e9;
  if (secs > 0) {
    link_rate_ = static_cast<double>(tun_.probe_bytes) / secs;
    link_source_ = Source::kMeasured;
    // A session's own cap says nothing of the link to the next one.
    if (!cap_->limited()) history_.RecordLink(link_rate_);
    spdlog::info("{}: link probe: {:.1f} MiB in {:.2f} ms: {:.1f} MiB/s",
                 session_->name(), MiB(static_cast<double>(tun_.probe_bytes)),
                 secs * 1e3, MiB(link_rate_));
  }
  return absl::OkStatus();
}

std::vector<DeviceTerms> SourceEngine::Terms(bool drained) const {
  std::vector<DeviceTerms> terms;
  for (const Device& d : devs_) {
    DeviceTerms t;
    t.id = d.id;
    t.remaining_bytes = drained && d.precopy ? 0 : d.remaining();
    t.read_rate = d.read_rate;
    t.read_source = d.read_rate > 0 ? d.read_source : Source::kGuess;
    t.read_floor = d.read_floor;
    t.write_rate = d.write_rate;
    t.source_arc = d.arc;
    t.arc_source = d.arc_source;
    t.destination_arc = d.dest_arc;
    t.precopy = d.precopy;
    terms.push_back(std::move(t));
  }
  return terms;
}

double SourceEngine::SwitchoverRate(const Policy& pol, std::string* why) const {
  double rate = link_rate_;
  std::string held;
  auto hold = [&](uint64_t cap, const std::string& name) {
    // On the wire a frame carries its headers and tag too: about 1% of a
    // 9000-byte frame, less of a memif one.
    const double device_bytes = static_cast<double>(cap) * 0.99;
    if (cap == 0 || (rate > 0 && rate <= device_bytes)) return;
    rate = device_bytes;
    held =
        absl::StrFormat("%s %.1f MB/s", name, static_cast<double>(cap) / 1e6);
  };
  hold(pol.switchover_bandwidth, "the session's switchover_bandwidth");
  hold(transport_.port_cap().rate(),
       absl::StrCat("port ", transport_.config().port.name, "'s max_rate"));
  if (why) *why = held;
  return rate;
}

LinkTerms SourceEngine::Link() const {
  LinkTerms link;
  // The rate the session will have at its switchover: the link as
  // measured, held to its caps (its priority then gives it the worker
  // before other sessions' pre-copy).
  link.rate = SwitchoverRate(ReadPolicy());
  link.rate_source = link_rate_ > 0 ? link_source_ : Source::kGuess;
  link.serial = req_.serial_schedule();
  link.source_barrier = source_barrier_;
  link.destination_barrier = dest_barrier_;
  link.stop_copy_overhead = history_.stop_copy_overhead();
  // The commit's fixed cost as measured before, or a round trip and the
  // journal's writes.
  link.commit_overhead =
      history_.commit_overhead() > absl::ZeroDuration()
          ? history_.commit_overhead()
          : (round_trip_ < absl::InfiniteDuration() ? round_trip_
                                                    : absl::ZeroDuration()) +
                absl::Milliseconds(1);
  return link;
}

Prediction SourceEngine::Predict() const {
  return PredictDowntime(Terms(false), Link());
}

Prediction SourceEngine::PredictFloor() const {
  return PredictDowntime(Terms(true), Link());
}

SourceEngine::Policy SourceEngine::ReadPolicy() const {
  Policy pol;
  session_->Read([&](const v1::Session& s) {
    pol.budget = FromProto(s.downtime_budget());
    pol.max_precopy = s.precopy().has_max_precopy()
                          ? FromProto(s.precopy().max_precopy())
                          : absl::Seconds(60);
    pol.manual = s.switchover_mode() == v1::SWITCHOVER_MODE_MANUAL;
    pol.allow_overrun = s.allow_budget_overrun();
    pol.max_bandwidth = s.max_bandwidth();
    pol.switchover_bandwidth = s.switchover_bandwidth();
    switch (s.precopy().on_timeout()) {
      case v1::PrecopyPolicy::ON_TIMEOUT_FAIL:
        pol.fail_on_timeout = true;
        break;
      case v1::PrecopyPolicy::ON_TIMEOUT_SWITCH:
        pol.fail_on_timeout = false;
        break;
      default:
        pol.fail_on_timeout = !pol.allow_overrun;
    }
  });
  return pol;
}

void SourceEngine::PublishProgress(
    v1::Phase phase, const std::function<void(v1::Session&)>& also) {
  uint32_t rounds = 0;
  for (Device& d : devs_) {
    if (d.stream) {
      const dataplane::StreamStats st = d.stream->Stats();
      d.bytes_sent = st.device_bytes;
      d.caught_up = st.caught_up;
    }
    rounds = std::max(rounds, d.caught_up);
  }
  const Prediction predicted = Predict();
  const Policy pol = ReadPolicy();
  const absl::Duration elapsed = clock_.Now() - start_;
  {
    // The session's send rate, a measurement: on real time.
    uint64_t sent = 0;
    for (const Device& d : devs_) sent += d.bytes_sent;
    const absl::Time now = wall_.Now();
    if (now - rate_at_ >= absl::Milliseconds(500)) {
      if (rate_at_ != absl::InfinitePast() && sent >= rate_bytes_)
        send_rate_ = static_cast<double>(sent - rate_bytes_) /
                     absl::ToDoubleSeconds(now - rate_at_);
      rate_at_ = now;
      rate_bytes_ = sent;
    }
  }
  std::vector<absl::StatusOr<DeviceState>> states;
  for (const Device& d : devs_)
    states.push_back(MemberOf(d).device->GetState());
  session_->Update([&](v1::Session& p) {
    if (!IsTerminal(p.phase())) p.set_phase(phase);
    ToProto(predicted.expected, p.mutable_predicted_downtime());
    p.clear_devices();
    uint64_t sent = 0, remaining = 0;
    double dirty = 0;
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
      sent += d.bytes_sent;
      remaining += d.remaining();
      dirty += d.dirty_rate;
    }
    v1::Progress& g = *p.mutable_progress();
    ToProto(elapsed, g.mutable_elapsed());
    g.set_transferred_bytes(sent);
    g.set_remaining_bytes(remaining);
    g.set_total_bytes(sent + remaining);
    g.set_dirty_bytes_per_second(dirty);
    g.set_precopy_rounds(rounds);
    ToProto(predicted.bound, g.mutable_predicted_bound());
    if (phase == v1::PHASE_PRECOPY || phase == v1::PHASE_READY) {
      ToProto(std::max(absl::ZeroDuration(),
                       pol.max_precopy - (clock_.Now() - precopy_start_)),
              g.mutable_time_left());
      g.set_waiting_reason(waiting_);
    } else {
      g.clear_time_left();
      g.clear_waiting_reason();
    }
    g.set_link_bytes_per_second(link_rate_);
    g.set_send_bytes_per_second(send_rate_);
    g.set_prediction_guesses(predicted.guesses);
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
      d.dirty_armed = false;
      ack_received_ = false;
    }
    const uint64_t dirty_before = d.dirty_bytes;
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
    if (now > d.last_sample) {
      const double secs = absl::ToDoubleSeconds(now - d.last_sample);
      if (d.initial_bytes > 0) {
        // The device had data all along: its read rate is what it managed
        // over the interval since its own last sample.
        const double r = static_cast<double>(sent - d.last_bytes) / secs;
        if (r > 0) {
          d.read_rate = d.read_source == Source::kMeasured
                            ? 0.7 * d.read_rate + 0.3 * r
                            : r;
          d.read_source = Source::kMeasured;
        }
      } else if (d.initial_done && !d.dirty_armed) {
        // The sample that saw the initial data end still counts its tail.
        d.dirty_armed = true;
      } else if (d.initial_done) {
        // After the initial data, what it read plus what its dirty backlog
        // grew by is what the workload dirtied again.
        const double grown = static_cast<double>(sent - d.last_bytes) +
                             static_cast<double>(d.dirty_bytes) -
                             static_cast<double>(dirty_before);
        const double r = std::max(0.0, grown / secs);
        d.dirty_rate = 0.7 * d.dirty_rate + 0.3 * r;
      }
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
  const absl::Time t0 = clock_.Now();
  absl::StatusOr<v1::SwitchoverAckResponse> resp = peer_->SwitchoverAck(ar);
  if (!resp.ok()) return resp.status();
  round_trip_ = std::min(round_trip_, clock_.Now() - t0);
  ack_received_ = resp->acknowledged();
  for (size_t i = 0;
       i < devs_.size() &&
       i < static_cast<size_t>(resp->write_bytes_per_second_size());
       ++i) {
    const double w = resp->write_bytes_per_second(static_cast<int>(i));
    if (w > 0) devs_[i].write_rate = w;
  }
  return absl::OkStatus();
}

absl::Status SourceEngine::BudgetUnreachable(const Policy& pol,
                                             const Prediction& floor) const {
  std::string why = absl::StrFormat(
      "the downtime budget %.1f ms cannot be met: the smallest downtime "
      "this session can promise is %.1f ms (expected %.1f ms; stop-copy set "
      "by %s",
      Ms(pol.budget), Ms(floor.bound), Ms(floor.expected), floor.critical);
  if (!floor.guesses.empty())
    absl::StrAppend(&why, "; guessed: ", floor.guesses);
  absl::StrAppend(&why, ")");
  std::string held;
  SwitchoverRate(pol, &held);
  if (!held.empty())
    absl::StrAppend(&why, "; the stop-copy's link is held to ", held);
  absl::StrAppend(&why, "; the source keeps running. ");
  // A guessed term's bound is wide on purpose: a measurement narrows it.
  if (!floor.guesses.empty())
    absl::StrAppend(&why,
                    "A calibration file with these devices' classes "
                    "(calibration_file, from vmig-bench calibrate) or a "
                    "migration of them by either daemon would make the "
                    "promise a measured one; or raise the budget, or ");
  absl::StrAppend(&why, floor.guesses.empty() ? "Set" : "set",
                  " allow_budget_overrun to switch over anyway");
  return absl::FailedPreconditionError(why);
}

std::string SourceEngine::WaitingReason(const Prediction& p,
                                        const Policy& pol) const {
  for (const Device& d : devs_) {
    if (d.precopy && !d.initial_done) {
      return absl::StrFormat("%s: %.1f MiB of initial data left to pre-copy",
                             d.id, MiB(static_cast<double>(d.initial_bytes)));
    }
  }
  bool any_precopy = false;
  for (const Device& d : devs_) any_precopy = any_precopy || d.precopy;
  if (any_precopy && !ack_received_)
    return "waiting for the destination to load the initial data "
           "(switchover-ack)";
  const std::string figures = absl::StrFormat(
      "the prediction at %.1f ms (bound %.1f ms) > budget %.1f ms",
      Ms(p.expected), Ms(p.bound), Ms(pol.budget));
  for (const Device& d : devs_) {
    if (d.id != p.critical) continue;
    if (d.precopy && d.dirty_rate > 0) {
      return absl::StrFormat("%s: %.1f MiB/s dirty at %.1f MiB/s read keeps %s",
                             d.id, MiB(d.dirty_rate), MiB(d.read_rate),
                             figures);
    }
    return absl::StrFormat("%s: %.1f MiB left at %.1f MiB/s read keeps %s",
                           d.id, MiB(static_cast<double>(d.remaining())),
                           MiB(d.read_rate), figures);
  }
  uint64_t left = 0;
  for (const Device& d : devs_) left += d.remaining();
  return absl::StrFormat("the link: %.1f MiB left at %.1f MiB/s keeps %s",
                         MiB(static_cast<double>(left)), MiB(link_rate_),
                         figures);
}

absl::Status SourceEngine::Precopy() {
  precopy_start_ = clock_.Now();
  bool any_precopy = false;
  for (const Device& d : devs_) any_precopy = any_precopy || d.precopy;
  last_link_sample_ = precopy_start_;
  for (;;) {
    if (Cancelled()) return absl::CancelledError("cancelled during pre-copy");
    if (absl::Status s = CheckPeer(); !s.ok()) return s;
    const Policy pol = ReadPolicy();
    cap_->SetRate(pol.max_bandwidth);  // UpdateSession may have changed it
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
        if (r > link_rate_) {
          link_rate_ = r;
          link_source_ = Source::kMeasured;
        }
      }
      last_link_total_ = total;
      last_link_sample_ = now;
    }
    // Switchover-ack (the destination has loaded every device's initial
    // data), and after it the destination's write rates.
    const absl::Duration ask_every =
        ack_received_ ? absl::Milliseconds(100) : absl::Milliseconds(20);
    if (all_initial && now - last_ack_try_ > ask_every) {
      last_ack_try_ = now;
      const bool had_ack = ack_received_;
      if (absl::Status s = AskSwitchoverAck(); !s.ok()) {
        // Once acknowledged, the call only refreshes write rates: whether
        // the destination is gone is the liveness monitor's to say.
        if (!had_ack) {
          return absl::Status(
              s.code(),
              absl::StrCat("the destination ", req_.peer(), ": ", s.message()));
        }
        ack_received_ = true;
        spdlog::debug("{}: switchover-ack refresh: {}", session_->name(),
                      s.message());
      }
    }
    const Prediction predicted = Predict();
    const Prediction floor = PredictFloor();
    SwitchoverInputs in;
    in.bound = predicted.bound;
    in.floor_bound = floor.bound;
    in.budget = pol.budget;
    in.manual = pol.manual;
    in.switchover_requested = session_->switchover_requested.load();
    in.allow_overrun = pol.allow_overrun;
    in.fail_on_timeout = pol.fail_on_timeout;
    in.any_precopy = any_precopy;
    in.ack_received = ack_received_;
    in.precopy_elapsed = now - precopy_start_;
    in.max_precopy = pol.max_precopy;
    const SwitchoverVerdict verdict = DecideSwitchover(in);
    if (verdict.decision == SwitchoverDecision::kRefuse)
      return BudgetUnreachable(pol, floor);
    best_bound_ = std::min(best_bound_, predicted.bound);
    const bool ready =
        (!any_precopy || ack_received_) && predicted.bound <= pol.budget;
    waiting_ = !ready       ? WaitingReason(predicted, pol)
               : pol.manual ? "ready: waiting for a Switchover call (manual)"
                            : "";
    PublishProgress(verdict.decision == SwitchoverDecision::kReady
                        ? v1::PHASE_READY
                        : v1::PHASE_PRECOPY);
    // At debug level, the engine's figures once a second.
    if (spdlog::should_log(spdlog::level::debug) &&
        now - last_debug_ >= absl::Seconds(1)) {
      last_debug_ = now;
      uint64_t remaining = 0;
      for (const Device& d : devs_) remaining += d.remaining();
      spdlog::debug(
          "{}: pre-copy {:.1f} s: {:.1f} MiB left, link {:.1f} MiB/s, "
          "predicted {:.1f} ms (bound {:.1f}), budget {:.1f} ms{}{}",
          session_->name(), absl::ToDoubleSeconds(now - precopy_start_),
          remaining / 1048576.0, MiB(link_rate_), Ms(predicted.expected),
          Ms(predicted.bound), Ms(pol.budget), waiting_.empty() ? "" : "; ",
          waiting_);
    }
    if (verdict.decision == SwitchoverDecision::kSwitch) {
      // Every way out says why, with the numbers.
      spdlog::info(
          "{}: switching over: {}; predicted downtime {:.1f} ms (bound "
          "{:.1f}), budget {:.1f} ms, pre-copy ran {:.1f} s, link {:.1f} "
          "MiB/s{}{}",
          session_->name(), verdict.reason, Ms(predicted.expected),
          Ms(predicted.bound), Ms(pol.budget),
          absl::ToDoubleSeconds(now - precopy_start_), MiB(link_rate_),
          predicted.guesses.empty() ? "" : "; guessed: ", predicted.guesses);
      over_budget_ = verdict.over_budget;
      return absl::OkStatus();
    }
    if (verdict.decision == SwitchoverDecision::kTimeout) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "pre-copy ran %s without the prediction's bound fitting the "
          "budget %.1f ms: the smallest bound it reached was %.1f ms (%s); "
          "the source keeps running",
          absl::FormatDuration(pol.max_precopy), Ms(pol.budget),
          Ms(best_bound_), waiting_));
    }
    clock_.SleepFor(tun_.monitor_interval);
  }
}

}  // namespace vmig::daemon
