#include "daemon/source/precopy_tracker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

PrecopyTracker::PrecopyTracker(std::vector<SourceDevice>& devs,
                               SessionPredictor& predictor,
                               absl::Duration stall_timeout, std::string name)
    : devs_(devs),
      predictor_(predictor),
      stall_timeout_(stall_timeout),
      name_(std::move(name)) {}

void PrecopyTracker::Start(absl::Time now) {
  for (SourceDevice& d : devs_) d.last_progress = d.last_sample = now;
}

bool PrecopyTracker::any_precopy() const {
  return std::any_of(devs_.begin(), devs_.end(),
                     [](const SourceDevice& d) { return d.precopy; });
}

uint64_t PrecopyTracker::remaining() const {
  uint64_t left = 0;
  for (const SourceDevice& d : devs_) left += d.remaining();
  return left;
}

absl::StatusOr<PrecopyTracker::Sample> PrecopyTracker::Take(absl::Time now) {
  Sample out;
  uint64_t total = 0;
  for (SourceDevice& d : devs_) {
    if (!d.precopy) {
      if (absl::Status s = d.RefreshStopCopyLength(); !s.ok()) return s;
      continue;
    }
    absl::StatusOr<vfio::PrecopyInfo> info = d.data->GetPrecopyInfo();
    if (!info.ok())
      return absl::Status(info.status().code(),
                          absl::StrCat(d.id, ": ", info.status().message()));
    const uint64_t sent = d.stream->Stats().device_bytes;
    if (info->reinit) {
      spdlog::info("{}: {} raised REINIT at stream byte {}", name_, d.id, sent);
      d.initial_done = false;
      d.dirty_armed = false;
      out.reinit = true;
    }
    const uint64_t dirty_before = d.dirty_bytes;
    d.initial_bytes = info->initial_bytes;
    d.dirty_bytes = info->dirty_bytes;
    if (!d.initial_done && info->initial_bytes == 0) {
      d.initial_done = true;
      d.initial_offset = sent;
    }
    out.all_initial = out.all_initial && d.initial_done;
    if (sent > d.last_bytes) {
      d.last_progress = now;
    } else if (d.initial_bytes + d.dirty_bytes > 0 &&
               now - d.last_progress > stall_timeout_) {
      return absl::UnavailableError(absl::StrCat(
          d.id, ": no pre-copy progress for ",
          absl::FormatDuration(stall_timeout_), " (peer or data plane gone)"));
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
    total += sent;
  }
  if (now - last_link_sample_ > absl::Milliseconds(50)) {
    if (total > last_link_total_) {
      predictor_.SeeLinkCarry(static_cast<double>(total - last_link_total_) /
                              absl::ToDoubleSeconds(now - last_link_sample_));
    }
    last_link_total_ = total;
    last_link_sample_ = now;
  }
  return out;
}

void PrecopyTracker::AddInitialOffsets(v1::SwitchoverAckRequest& req) const {
  for (const SourceDevice& d : devs_)
    req.add_initial_data_offsets(d.initial_offset);
}

void PrecopyTracker::TakeWriteRates(const v1::SwitchoverAckResponse& resp) {
  for (size_t i = 0;
       i < devs_.size() &&
       i < static_cast<size_t>(resp.write_bytes_per_second_size());
       ++i) {
    const double w = resp.write_bytes_per_second(static_cast<int>(i));
    if (w > 0) devs_[i].write_rate = w;
  }
}

}  // namespace vmig::daemon
