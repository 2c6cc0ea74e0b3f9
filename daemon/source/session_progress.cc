#include "daemon/source/session_progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "proto/convert.h"

namespace vmig::daemon {

void SessionProgress::ReadStreams() {
  for (SourceDevice& d : devs_) {
    if (!d.stream) continue;
    const dataplane::StreamStats st = d.stream->Stats();
    d.bytes_sent = st.device_bytes;
    d.caught_up = st.caught_up;
  }
}

void SessionProgress::Publish(v1::Phase phase, const Figures& f,
                              const std::function<void(v1::Session&)>& also) {
  ReadStreams();
  uint32_t rounds = 0;
  uint64_t sent = 0;
  for (const SourceDevice& d : devs_) {
    rounds = std::max(rounds, d.caught_up);
    sent += d.bytes_sent;
  }
  // The session's send rate, a measurement: on real time.
  const absl::Time now = wall_.Now();
  if (now - rate_at_ >= absl::Milliseconds(500)) {
    if (rate_at_ != absl::InfinitePast() && sent >= rate_bytes_)
      send_rate_ = static_cast<double>(sent - rate_bytes_) /
                   absl::ToDoubleSeconds(now - rate_at_);
    rate_at_ = now;
    rate_bytes_ = sent;
  }
  std::vector<absl::StatusOr<vfio::DeviceState>> states;
  for (const SourceDevice& d : devs_) states.push_back(d.device->GetState());
  session_.Update([&](v1::Session& p) {
    if (!IsTerminal(p.phase())) p.set_phase(phase);
    ToProto(f.predicted.expected, p.mutable_predicted_downtime());
    p.clear_devices();
    uint64_t remaining = 0;
    double dirty = 0;
    for (size_t i = 0; i < devs_.size(); ++i) {
      const SourceDevice& d = devs_[i];
      auto* x = p.add_devices();
      x->set_device(absl::StrCat("devices/", d.id));
      x->set_peer_device(d.peer_id);
      if (states[i].ok()) x->set_state(ToProto(*states[i]));
      x->set_bytes_transferred(d.bytes_sent);
      x->set_initial_bytes(d.initial_bytes);
      x->set_dirty_bytes(d.dirty_bytes);
      x->set_stop_copy_length(d.stop_copy_length);
      x->set_bytes_per_second(d.read_rate);
      remaining += d.remaining();
      dirty += d.dirty_rate;
    }
    v1::Progress& g = *p.mutable_progress();
    ToProto(f.elapsed, g.mutable_elapsed());
    g.set_transferred_bytes(sent);
    g.set_remaining_bytes(remaining);
    g.set_total_bytes(sent + remaining);
    g.set_dirty_bytes_per_second(dirty);
    g.set_precopy_rounds(rounds);
    ToProto(f.predicted.bound, g.mutable_predicted_bound());
    if (f.time_left) {
      ToProto(*f.time_left, g.mutable_time_left());
      g.set_waiting_reason(f.waiting);
    } else {
      g.clear_time_left();
      g.clear_waiting_reason();
    }
    g.set_link_bytes_per_second(f.link_rate);
    g.set_send_bytes_per_second(send_rate_);
    g.set_prediction_guesses(f.predicted.guesses);
    if (also) also(p);
  });
}

}  // namespace vmig::daemon
