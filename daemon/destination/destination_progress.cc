#include "daemon/destination/destination_progress.h"

#include "absl/strings/str_cat.h"
#include "proto/convert.h"

namespace vmig::daemon {

std::vector<double> WriteRates(const ReceiveStreams& streams) {
  std::vector<double> rates;
  for (const auto& st : streams) {
    const dataplane::StreamStats s = st->Stats();
    // Less than a millisecond of push-back says nothing yet.
    rates.push_back(s.write_bound_ns > 1000000
                        ? static_cast<double>(s.write_bound_bytes) * 1e9 /
                              static_cast<double>(s.write_bound_ns)
                        : 0.0);
  }
  return rates;
}

void PublishStreamProgress(SessionRecord& record, const ReceiveStreams& streams,
                           absl::Duration elapsed) {
  std::vector<uint64_t> bytes;
  for (const auto& st : streams) bytes.push_back(st->Stats().device_bytes);
  const std::vector<double> rates = WriteRates(streams);
  record.Update([&](v1::Session& p) {
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

void PublishDeviceStates(SessionRecord& record,
                         const std::vector<std::string>& ids,
                         const vfio::DeviceGroup& group, v1::Phase phase,
                         const std::string& error) {
  std::vector<v1::DeviceState> states;
  for (size_t i = 0; i < group.size(); ++i) {
    absl::StatusOr<vfio::DeviceState> st = group[i].device->GetState();
    states.push_back(st.ok() ? ToProto(*st) : v1::DEVICE_STATE_UNSPECIFIED);
  }
  record.Update([&](v1::Session& p) {
    p.set_phase(phase);
    if (!error.empty()) p.set_error(error);
    std::vector<v1::DeviceProgress> before(p.devices().begin(),
                                           p.devices().end());
    p.clear_devices();
    for (size_t i = 0; i < ids.size(); ++i) {
      auto* d = p.add_devices();
      const std::string name = absl::StrCat("devices/", ids[i]);
      for (const v1::DeviceProgress& b : before) {
        if (b.device() == name) *d = b;
      }
      d->set_device(name);
      d->set_state(states[i]);
    }
  });
}

}  // namespace vmig::daemon
