#include "daemon/source/switchover_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/convert.h"

namespace vmig::daemon {

std::string WorstOverrun(const SwitchoverTimes& t,
                         const std::vector<SourceDevice>& devs,
                         const Prediction& p) {
  const absl::Duration quiesce = absl::Nanoseconds(t.quiesced - t.start);
  const absl::Duration stop_copy =
      absl::Nanoseconds(t.transferred - t.quiesced);
  const absl::Duration commit = absl::Nanoseconds(t.end - t.transferred);
  struct Phase {
    std::string name;
    absl::Duration took, predicted;
  };
  std::vector<Phase> phases = {{"quiesce", quiesce, p.quiesce},
                               {"stop-copy", stop_copy, p.stop_copy},
                               {"commit", commit, p.commit}};
  // In stop-copy, the device that overran its own prediction the most.
  absl::Duration worst_excess = -absl::InfiniteDuration();
  for (size_t i = 0; i < devs.size() && i < p.device_stop_copy.size(); ++i) {
    const absl::Duration excess = devs[i].transfer - p.device_stop_copy[i];
    if (excess > worst_excess) {
      worst_excess = excess;
      phases[1].name = absl::StrCat("stop-copy of ", devs[i].id);
    }
  }
  const Phase* worst = &phases[0];
  for (const Phase& ph : phases) {
    if (ph.took - ph.predicted > worst->took - worst->predicted) worst = &ph;
  }
  return absl::StrFormat("%s: %.1f ms, predicted %.1f ms", worst->name,
                         absl::ToDoubleMilliseconds(worst->took),
                         absl::ToDoubleMilliseconds(worst->predicted));
}

v1::DowntimeReport MakeDowntimeReport(const v1::CommitResponse& resp,
                                      const SwitchoverTimes& t,
                                      const std::vector<SourceDevice>& devs,
                                      const ReportContext& ctx) {
  const Prediction& predicted = ctx.predicted;
  const absl::Duration budget = ctx.policy.budget;
  const absl::Duration downtime = absl::Nanoseconds(t.end - t.start);
  v1::DowntimeReport report;
  ToProto(downtime, report.mutable_downtime());
  ToProto(predicted.expected, report.mutable_predicted());
  ToProto(predicted.bound, report.mutable_predicted_bound());
  ToProto(predicted.quiesce, report.mutable_predicted_quiesce());
  ToProto(predicted.stop_copy, report.mutable_predicted_stop_copy());
  ToProto(predicted.commit, report.mutable_predicted_commit());
  report.set_prediction_guesses(predicted.guesses);
  ToProto(budget, report.mutable_budget());
  report.set_budget_met(downtime <= budget);
  report.set_switched_over_budget(ctx.over_budget);
  if (downtime > budget || downtime > predicted.bound)
    report.set_overrun(WorstOverrun(t, devs, predicted));
  ToProto(absl::Nanoseconds(t.quiesced - t.start), report.mutable_quiesce());
  ToProto(absl::Nanoseconds(t.transferred - t.quiesced),
          report.mutable_stop_copy_transfer());
  ToProto(absl::Nanoseconds(resp.load_ns()), report.mutable_destination_load());
  ToProto(absl::Nanoseconds(resp.resume_ns()), report.mutable_resume());
  ToProto(absl::Nanoseconds(resp.written_ns()),
          report.mutable_destination_written());
  ToProto(absl::Nanoseconds(resp.total_ns()),
          report.mutable_destination_commit());
  if (ctx.same_host && t.dest_running > t.start) {
    ToProto(absl::Nanoseconds(t.dest_running - t.start),
            report.mutable_same_host_downtime());
  }
  report.set_data_protection(ctx.protection);
  for (size_t i = 0; i < devs.size(); ++i) {
    const SourceDevice& d = devs[i];
    report.set_precopy_rounds(std::max(report.precopy_rounds(), d.caught_up));
    report.set_retransmitted_frames(report.retransmitted_frames() +
                                    d.retransmits);
    auto* x = report.add_devices();
    x->set_device(absl::StrCat("devices/", d.id));
    // What the device streamed after the switchover began, and how long
    // from STOP_COPY to its last byte written at the destination.
    ToProto(d.transfer, x->mutable_transfer());
    x->set_bytes(d.stream_bytes - d.bytes_at_switchover);
    if (i < predicted.device_stop_copy.size())
      ToProto(predicted.device_stop_copy[i], x->mutable_predicted_transfer());
  }
  return report;
}

}  // namespace vmig::daemon
