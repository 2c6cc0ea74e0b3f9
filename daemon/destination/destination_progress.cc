// The destination session's progress: what its devices have taken and how
// fast, for its own record and for the source's prediction, and the
// source's report once the session has committed.
#include "absl/strings/str_cat.h"
#include "daemon/destination/destination_session.h"
#include "proto/convert.h"

namespace vmig::daemon {

std::vector<double> DestinationSession::WriteRates() {
  std::vector<double> rates;
  for (const auto& st : streams_) {
    const dataplane::StreamStats s = st->Stats();
    // Less than a millisecond of push-back says nothing yet.
    rates.push_back(s.write_bound_ns > 1000000
                        ? static_cast<double>(s.write_bound_bytes) * 1e9 /
                              static_cast<double>(s.write_bound_ns)
                        : 0.0);
  }
  return rates;
}

void DestinationSession::PublishProgress() {
  std::vector<uint64_t> bytes;
  for (const auto& st : streams_) bytes.push_back(st->Stats().device_bytes);
  const std::vector<double> rates = WriteRates();
  const absl::Duration elapsed = absl::Now() - prepared_at_;
  record_->Update([&](v1::Session& p) {
    uint64_t total = 0;
    for (int i = 0; i < p.devices_size() && i < static_cast<int>(bytes.size());
         ++i) {
      p.mutable_devices(i)->set_bytes_transferred(
          bytes[static_cast<size_t>(i)]);
      p.mutable_devices(i)->set_bytes_per_second(rates[static_cast<size_t>(i)]);
      total += bytes[static_cast<size_t>(i)];
    }
    v1::Progress& g = *p.mutable_progress();
    ToProto(elapsed, g.mutable_elapsed());
    g.set_transferred_bytes(total);
  });
}

absl::Status DestinationSession::Report(const v1::ReportRequest& req) {
  {
    absl::MutexLock st(&state_mu_);
    if (decision_ != Decision::kCommitted) {
      return absl::FailedPreconditionError(
          absl::StrCat(record_->name(), " has not committed: no report"));
    }
  }
  record_->Update([&](v1::Session& p) { *p.mutable_report() = req.report(); });
  // What the source measured of its classes, this session included: one
  // entry per device at most (a peer cannot flood the history).
  if (history_) {
    size_t devices = 0;
    {
      absl::MutexLock lock(&mu_);
      devices = ids_.size();
    }
    for (int i = 0; i < req.measures_size() && static_cast<size_t>(i) < devices;
         ++i)
      history_->Learn(req.measures(i), Origin::kPeer);
  }
  return absl::OkStatus();
}

}  // namespace vmig::daemon
