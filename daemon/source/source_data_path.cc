#include "daemon/source/source_data_path.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/fmt_absl.h"
#include "daemon/link_probe.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

using vfio::DeviceGroup;

SourceDataPath::SourceDataPath(std::vector<SourceDevice>& devs,
                               dataplane::Transport& transport, Clock& clock,
                               absl::Duration stall_timeout)
    : devs_(devs),
      transport_(transport),
      clock_(clock),
      stall_timeout_(stall_timeout) {}

void SourceDataPath::BeginSwitchover() {
  switching_ = true;
  for (SourceDevice& d : devs_) {
    if (d.stream) d.stream->SetUrgent(true);
  }
}

absl::StatusOr<std::shared_ptr<dataplane::Stream>> SourceDataPath::OpenStream(
    uint32_t stream_id, vfio::DataSession* data) {
  dataplane::StreamSpec spec;
  spec.role = dataplane::StreamRole::kSend;
  spec.session_id = wire_.session;
  spec.session_token = wire_.token;
  spec.protection = wire_.protection;
  spec.send_key = wire_.keys.send;
  spec.receive_key = wire_.keys.receive;
  spec.stream_id = stream_id;
  spec.data = data;
  spec.peer = wire_.peer;
  spec.cap = cap_;
  absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
      transport_.AddStream(spec);
  if (st.ok() && switching_) (*st)->SetUrgent(true);
  return st;
}

absl::Status SourceDataPath::Move(const std::vector<SourceDevice*>& devs,
                                  vfio::DeviceState target, bool serial,
                                  bool add_streams) {
  std::vector<size_t> members;
  for (const SourceDevice* d : devs)
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
  absl::Duration slowest;
  for (size_t i = 0; i < arcs.size(); ++i) {
    slowest = std::max(slowest, arcs[i].took);
    devs[i]->last_arc = arcs[i].took;
    if (arcs[i].data) devs[i]->data = std::move(arcs[i].data);
  }
  if (!serial && devs.size() > 1)
    last_barrier_ = std::max(absl::ZeroDuration(), wall - slowest);
  if (!s.ok()) return absl::AbortedError(s.message());
  if (!add_streams) return absl::OkStatus();
  for (SourceDevice* d : devs) {
    if (!d->data || d->stream) continue;
    absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
        OpenStream(d->stream_id, d->data.get());
    if (!st.ok()) return st.status();
    d->stream = *std::move(st);
  }
  return absl::OkStatus();
}

absl::StatusOr<double> SourceDataPath::ProbeLink(uint32_t stream_id,
                                                 uint64_t bytes,
                                                 Checks checks) {
  std::unique_ptr<vfio::DataSession> source =
      std::make_unique<ProbeSource>(bytes);
  absl::StatusOr<std::shared_ptr<dataplane::Stream>> st =
      OpenStream(stream_id, source.get());
  if (!st.ok()) return st.status();
  std::shared_ptr<dataplane::Stream> probe = *std::move(st);
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
    if (absl::Status s = checks("the link probe"); !s.ok()) {
      result = s;
      break;
    }
    const uint64_t acked = probe->Stats().sender.acked_bytes;
    const absl::Time now = wall_.Now();
    if (acked != last_acked) {
      last_acked = acked;
      progress = now;
    } else if (now - progress > stall_timeout_) {
      result = absl::UnavailableError(absl::StrCat(
          "link probe stalled for ", absl::FormatDuration(stall_timeout_),
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
  return secs > 0 ? static_cast<double>(bytes) / secs : 0.0;
}

absl::Status SourceDataPath::CheckHeard(absl::Duration liveness) const {
  const int64_t now = MonotonicNanos();
  // The streams' stats are published every 10 ms: looking every 50 ms is
  // enough, and keeps the engine off the lock their worker takes.
  if (now - last_path_check_ns_ < 50'000'000) return absl::OkStatus();
  last_path_check_ns_ = now;
  for (const SourceDevice& d : devs_) {
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

absl::Status SourceDataPath::WaitStreams(const std::vector<SourceDevice*>& devs,
                                         absl::string_view phase,
                                         absl::Time start, Checks checks) {
  std::vector<uint64_t> last(devs.size(), 0);
  std::vector<absl::Time> progress(devs.size(), clock_.Now());
  for (;;) {
    bool all = true;
    const dataplane::Stream* waiting = nullptr;  // the first not finished
    const absl::Time now = clock_.Now();
    for (size_t i = 0; i < devs.size(); ++i) {
      SourceDevice& d = *devs[i];
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
      } else if (now - progress[i] > stall_timeout_) {
        return absl::UnavailableError(
            absl::StrCat(d.id, ": ", phase, " stalled for ",
                         absl::FormatDuration(stall_timeout_),
                         " (peer or data plane gone)"));
      }
    }
    if (all) return absl::OkStatus();
    if (absl::Status s = checks(phase); !s.ok()) return s;
    // Woken by the stream's end (the worker signals it once), else after a
    // tick for the checks above: the last stream's end is seen when it
    // happens, not at the next poll, and the engine does not wake 5000
    // times a second while the data plane works.
    (void)waiting->Wait(kWaitTick);
  }
}

absl::Status SourceDataPath::StopCopy(const std::vector<SourceDevice*>& order,
                                      bool serial, Checks checks) {
  if (serial) {
    for (SourceDevice* d : order) {
      const absl::Time t = clock_.Now();
      if (absl::Status s = Move({d}, vfio::DeviceState::kStopCopy, true, true);
          !s.ok())
        return s;
      if (absl::Status s = WaitStreams({d}, "stop-copy", t, checks); !s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  const absl::Time start = clock_.Now();
  if (absl::Status s = Move(order, vfio::DeviceState::kStopCopy, false, true);
      !s.ok())
    return s;
  return WaitStreams(order, "stop-copy", start, checks);
}

void SourceDataPath::ReleaseStreams(const std::string& name) {
  // The worker may be inside a read: a data session is freed once it lets
  // go (if it stalled past the wait, its stream keeps the session).
  for (SourceDevice& d : devs_) {
    if (d.stream && !d.stream->CancelAndWait(absl::Seconds(5), &d.data)) {
      spdlog::warn(
          "{}: {}: the data plane's worker did not let go of the stream "
          "within 5s; its data session is closed when it does",
          name, d.id);
    }
    d.stream.reset();
    d.data.reset();
  }
}

}  // namespace vmig::daemon
