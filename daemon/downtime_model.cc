#include "daemon/downtime_model.h"

#include <algorithm>

namespace vmig::daemon {

absl::Duration PredictDowntime(const std::vector<DeviceTerms>& devices,
                               const LinkTerms& link) {
  const double link_rate = link.rate > 0 ? link.rate : kAssumedLinkRate;
  bool all_precopy = true;
  for (const DeviceTerms& d : devices) all_precopy = all_precopy && d.precopy;
  const double arcs = all_precopy ? 5 : 6;
  auto read_rate = [&](const DeviceTerms& d) {
    return d.read_rate > 0 ? d.read_rate : link_rate;
  };
  if (link.serial) {
    // One device after another: every device pays its arcs and its bytes.
    double seconds = 0;
    for (const DeviceTerms& d : devices) {
      seconds += static_cast<double>(d.remaining_bytes) /
                 std::min(read_rate(d), link_rate);
    }
    return link.arc * (arcs * static_cast<double>(devices.size())) +
           absl::Seconds(seconds);
  }
  double slowest = 0, total = 0;
  for (const DeviceTerms& d : devices) {
    const double bytes = static_cast<double>(d.remaining_bytes);
    slowest = std::max(slowest, bytes / read_rate(d));
    total += bytes;
  }
  return link.arc * arcs + absl::Seconds(std::max(slowest, total / link_rate));
}

}  // namespace vmig::daemon
