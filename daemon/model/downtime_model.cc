#include "daemon/model/downtime_model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vmig::daemon {
namespace {

struct Inputs {
  double read, write, link;  // bytes/s; write 0: not limiting
  absl::Duration src_arc, dst_arc, overhead;
};

// One evaluation of the model. `pessimism` 0 gives the expectation; 1 gives
// every term at the far end of its uncertainty.
Prediction Evaluate(const std::vector<DeviceTerms>& devices,
                    const LinkTerms& link, double pessimism) {
  auto slower = [&](double rate, Source s) {
    return rate / (1 + pessimism * Uncertainty(s));
  };
  auto longer = [&](absl::Duration d, Source s) {
    return d * (1 + pessimism * Uncertainty(s));
  };
  const double link_rate =
      slower(link.rate > 0 ? link.rate : kAssumedLinkRate,
             link.rate > 0 ? link.rate_source : Source::kGuess);
  // Stop-copy's learned fixed cost: once in parallel, per device serially.
  const absl::Duration sc_overhead =
      longer(link.stop_copy_overhead, Source::kHistory);
  Prediction p;
  absl::Duration quiesce, arcs_to_stop_copy, dst_arc, serial_total;
  double slowest_transfer = 0, total_bytes = 0;
  p.critical = "the link";
  for (const DeviceTerms& d : devices) {
    const absl::Duration src_arc = longer(d.source_arc, d.arc_source);
    const absl::Duration darc = longer(d.destination_arc, Source::kMeasured);
    // Unmeasured, the read rate is expected at the link's; the bound
    // assumes no more than the slowest device class vmigd supports.
    const double guessed = pessimism > 0
                               ? std::min(slower(link_rate, Source::kGuess),
                                          kSlowestGuessedReadRate)
                               : link_rate;
    const double read = d.read_rate > 0 ? slower(d.read_rate, d.read_source)
                                        : std::max(d.read_floor, guessed);
    // A write rate is measured only when the device pushed back.
    const double write =
        d.write_rate > 0 ? slower(d.write_rate, Source::kMeasured) : read;
    const double bytes = static_cast<double>(d.remaining_bytes);
    const double device_rate = std::min(read, write);
    const absl::Duration sc_arcs = src_arc * (d.precopy ? 1 : 2);
    if (link.serial) {
      const absl::Duration sc =
          sc_arcs + absl::Seconds(bytes / std::min(device_rate, link_rate)) +
          sc_overhead;
      p.device_stop_copy.push_back(sc);
      p.quiesce += src_arc;
      p.stop_copy += sc;
      p.stop_copy_overhead += sc_overhead;
      dst_arc += darc;
      serial_total += sc;
      continue;
    }
    const double transfer = bytes / device_rate;
    p.device_stop_copy.push_back(sc_arcs + absl::Seconds(transfer));
    quiesce = std::max(quiesce, src_arc);
    arcs_to_stop_copy = std::max(arcs_to_stop_copy, sc_arcs);
    dst_arc = std::max(dst_arc, darc);
    if (transfer > slowest_transfer) {
      slowest_transfer = transfer;
      if (transfer > total_bytes / link_rate) p.critical = d.id;
    }
    total_bytes += bytes;
  }
  if (!link.serial) {
    const absl::Duration sb = longer(link.source_barrier, Source::kMeasured);
    dst_arc += longer(link.destination_barrier, Source::kMeasured);
    quiesce += sb;
    arcs_to_stop_copy += sb;
    p.quiesce = quiesce;
    const double link_time = total_bytes / link_rate;
    if (link_time >= slowest_transfer) p.critical = "the link";
    p.stop_copy = arcs_to_stop_copy +
                  absl::Seconds(std::max(slowest_transfer, link_time)) +
                  sc_overhead;
    p.stop_copy_overhead = sc_overhead;
  } else if (!devices.empty()) {
    const auto longest =
        std::max_element(p.device_stop_copy.begin(), p.device_stop_copy.end());
    p.critical =
        devices[static_cast<size_t>(longest - p.device_stop_copy.begin())].id;
  }
  p.commit = longer(link.commit_overhead, Source::kHistory) + dst_arc * 3;
  p.expected = p.quiesce + p.stop_copy + p.commit;
  return p;
}

}  // namespace

double Uncertainty(Source s) {
  switch (s) {
    case Source::kMeasured:
      return 0.15;
    case Source::kHistory:
      return 0.3;
    case Source::kGuess:
      return 1.0;
  }
  return 1.0;
}

Prediction PredictDowntime(const std::vector<DeviceTerms>& devices,
                           const LinkTerms& link) {
  Prediction p = Evaluate(devices, link, 0);
  p.bound = Evaluate(devices, link, 1).expected + kSchedulingJitter;
  std::vector<std::string> guesses;
  if (link.rate <= 0 || link.rate_source == Source::kGuess)
    guesses.push_back("the link rate");
  for (const DeviceTerms& d : devices) {
    if (d.remaining_bytes > 0 &&
        (d.read_rate <= 0 || d.read_source == Source::kGuess))
      guesses.push_back(absl::StrCat(
          d.id, " read rate (the bound assumes ",
          static_cast<int>(kSlowestGuessedReadRate / (1 << 20)), " MiB/s)"));
    if (d.arc_source == Source::kGuess)
      guesses.push_back(absl::StrCat(d.id, " arc latency"));
  }
  p.guesses = absl::StrJoin(guesses, ", ");
  return p;
}

}  // namespace vmig::daemon
