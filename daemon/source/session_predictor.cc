#include "daemon/source/session_predictor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/source/figures.h"

namespace vmig::daemon {

SessionPredictor::SessionPredictor(const std::vector<SourceDevice>& devs,
                                   MeasureHistory& history,
                                   const dataplane::RateLimiter& port_cap,
                                   std::string port_name, bool serial)
    : devs_(devs),
      history_(history),
      port_cap_(port_cap),
      port_name_(std::move(port_name)),
      serial_(serial) {
  link_rate_ = history_.link();
  if (link_rate_ > 0) link_source_ = Source::kHistory;
}

void SessionPredictor::UseHistory(SourceDevice& d) const {
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

void SessionPredictor::SetProbedLink(double bytes_per_s) {
  link_rate_ = bytes_per_s;
  link_source_ = Source::kMeasured;
}

void SessionPredictor::SeeLinkCarry(double bytes_per_s) {
  if (bytes_per_s <= link_rate_) return;
  link_rate_ = bytes_per_s;
  link_source_ = Source::kMeasured;
}

std::vector<DeviceTerms> SessionPredictor::Terms(bool drained) const {
  std::vector<DeviceTerms> terms;
  for (const SourceDevice& d : devs_) {
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

std::vector<SessionPredictor::Cap> SessionPredictor::Caps(
    const SessionPolicy& pol) const {
  std::vector<Cap> caps;
  auto add = [&](uint64_t cap, const std::string& name) {
    if (cap == 0) return;
    // On the wire a frame carries its headers and tag too: about 1% of a
    // 9000-byte frame, less of a memif one.
    caps.push_back({static_cast<double>(cap) * 0.99,
                    absl::StrFormat("%s %.1f MB/s", name,
                                    static_cast<double>(cap) / 1e6)});
  };
  add(pol.switchover_bandwidth, "the session's switchover_bandwidth");
  add(port_cap_.rate(), absl::StrCat("port ", port_name_, "'s max_rate"));
  return caps;
}

double SessionPredictor::SwitchoverRate(const SessionPolicy& pol,
                                        std::string* why) const {
  double rate = link_rate_;
  std::string held;
  for (const Cap& cap : Caps(pol)) {
    // A link probed under the cap measures the cap, or a little under it
    // (the probe's first and last frames are not paced): within 10% of the
    // cap, the cap is what holds the link.
    if (rate > 0 && rate < 0.9 * cap.device_rate) continue;
    rate = rate > 0 ? std::min(rate, cap.device_rate) : cap.device_rate;
    held = cap.label;
  }
  if (why) *why = held;
  return rate;
}

std::string SessionPredictor::CapsBreakingBudget(
    const SessionPolicy& pol, const std::string& held) const {
  // A cap that alone breaks the budget is named even where the link as
  // measured is slower still: a faster link, or a later probe that finds
  // the link faster, would not cure it.
  std::string out;
  for (const Cap& cap : Caps(pol)) {
    if (cap.label == held) continue;  // already named as what holds the link
    LinkTerms link = Link(pol);
    link.rate = cap.device_rate;
    const Prediction alone = PredictDowntime(Terms(true), link);
    if (alone.bound <= pol.budget) continue;
    absl::StrAppend(&out, "; ", cap.label, " alone allows no less than ",
                    absl::StrFormat("%.1f ms", Ms(alone.bound)));
  }
  return out;
}

LinkTerms SessionPredictor::Link(const SessionPolicy& pol) const {
  LinkTerms link;
  // The rate the session will have at its switchover: the link as
  // measured, held to its caps (its priority then gives it the worker
  // before other sessions' pre-copy).
  link.rate = SwitchoverRate(pol);
  link.rate_source = link_rate_ > 0 ? link_source_ : Source::kGuess;
  link.serial = serial_;
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

Prediction SessionPredictor::Predict(const SessionPolicy& pol) const {
  return PredictDowntime(Terms(false), Link(pol));
}

Prediction SessionPredictor::PredictFloor(const SessionPolicy& pol) const {
  return PredictDowntime(Terms(true), Link(pol));
}

absl::Status SessionPredictor::BudgetUnreachable(
    const SessionPolicy& pol, const Prediction& floor) const {
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
  absl::StrAppend(&why, CapsBreakingBudget(pol, held));
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

std::string SessionPredictor::WaitingReason(const Prediction& p,
                                            const SessionPolicy& pol,
                                            bool ack_received) const {
  for (const SourceDevice& d : devs_) {
    if (d.precopy && !d.initial_done) {
      return absl::StrFormat("%s: %.1f MiB of initial data left to pre-copy",
                             d.id, MiB(static_cast<double>(d.initial_bytes)));
    }
  }
  bool any_precopy = false;
  for (const SourceDevice& d : devs_) any_precopy = any_precopy || d.precopy;
  if (any_precopy && !ack_received)
    return "waiting for the destination to load the initial data "
           "(switchover-ack)";
  const std::string figures = absl::StrFormat(
      "the prediction at %.1f ms (bound %.1f ms) > budget %.1f ms",
      Ms(p.expected), Ms(p.bound), Ms(pol.budget));
  for (const SourceDevice& d : devs_) {
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
  for (const SourceDevice& d : devs_) left += d.remaining();
  return absl::StrFormat("the link: %.1f MiB left at %.1f MiB/s keeps %s",
                         MiB(static_cast<double>(left)), MiB(link_rate_),
                         figures);
}

void SessionPredictor::Learn(const v1::CommitResponse& resp,
                             const SwitchoverTimes& t,
                             const Prediction& predicted) {
  uint64_t moved = 0;
  for (const SourceDevice& d : devs_) {
    moved += d.stream_bytes - d.bytes_at_switchover;
    // The last arc (STOP_COPY -> STOP, after the commit): a device without
    // PRE_COPY makes none before the switchover, so the next session on it
    // starts from this one.
    if (d.last_arc > absl::ZeroDuration())
      history_.RecordArc(d.history_key, d.last_arc);
    // A device read only in stop-copy: what it managed then is a floor of
    // its read rate (the link or the destination may have held it back).
    const uint64_t bytes = d.stream_bytes - d.bytes_at_switchover;
    // Its transfer time includes its two arcs into STOP_COPY (one arc is
    // about its last one, STOP_COPY -> STOP).
    const absl::Duration reading =
        std::max(absl::Milliseconds(1), d.transfer - 2 * d.last_arc);
    if (!d.precopy && bytes > (1u << 20) && d.transfer > absl::ZeroDuration()) {
      const double r =
          static_cast<double>(bytes) / absl::ToDoubleSeconds(reading);
      // Well under its share of the link, the device set its own pace;
      // near it, the link (or the destination) did, and the device reads at
      // least that fast.
      const double share =
          link_rate_ / static_cast<double>(serial_ ? 1 : devs_.size());
      // The destination device pushing back sets it too.
      const bool dest_bound = d.write_rate > 0 && r >= 0.8 * d.write_rate;
      if (link_rate_ > 0 && r < 0.8 * share && !dest_bound) {
        history_.RecordRead(d.history_key, r);
      } else {
        history_.RecordReadAtLeast(d.history_key, r);
      }
    }
    if (d.precopy && d.read_source == Source::kMeasured)
      history_.RecordRead(d.history_key, d.read_rate);
  }
  const double secs = static_cast<double>(t.transferred - t.quiesced) / 1e9;
  // Only a parallel switchover fills the link with every stream at once.
  if (!serial_ && moved > (1u << 20) && secs > 0)
    history_.RecordLink(static_cast<double>(moved) / secs);
  // The commit's fixed cost: its time here less the destination's arcs.
  const absl::Duration commit = absl::Nanoseconds(t.end - t.transferred);
  const absl::Duration dest =
      absl::Nanoseconds(resp.load_ns() + resp.resume_ns());
  if (commit > dest) history_.RecordCommitOverhead(commit - dest);
  LearnStopCopyOverhead(t, predicted);
}

void SessionPredictor::LearnStopCopyOverhead(const SwitchoverTimes& t,
                                             const Prediction& predicted) {
  // Only where this session measured every rate: an error of a guessed or
  // remembered rate is not a fixed cost.
  if (devs_.empty() || !predicted.guesses.empty()) return;
  for (const SourceDevice& d : devs_) {
    if (d.read_source != Source::kMeasured) return;
  }
  // Stop-copy past what its arcs and bytes explain: the last chunks'
  // acknowledgment and the wake-ups of a loaded machine. It is a fixed
  // cost, so more than a few round trips of it is a rate's error (which
  // the rates learn), not this.
  const absl::Duration took = absl::Nanoseconds(t.transferred - t.quiesced);
  const absl::Duration explained =
      predicted.stop_copy - predicted.stop_copy_overhead;
  const int64_t streams = serial_ ? static_cast<int64_t>(devs_.size()) : 1;
  const absl::Duration rtt = round_trip_ < absl::InfiniteDuration()
                                 ? round_trip_
                                 : absl::ZeroDuration();
  const absl::Duration cap = 2 * rtt + absl::Milliseconds(5);
  history_.RecordStopCopyOverhead(std::min((took - explained) / streams, cap));
}

}  // namespace vmig::daemon
