#include "daemon/source/source_handshake.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "proto/convert.h"

namespace vmig::daemon {

absl::StatusOr<v1::HandshakeRequest> MakeHandshakeRequest(
    const std::string& session_id, std::vector<SourceDevice>& devs,
    const vfio::DeviceGroup& group, dataplane::Transport& transport,
    const MeasureHistory& history, const KeyShare& share, uint64_t probe_bytes,
    const std::string& boot_id) {
  v1::HandshakeRequest hr;
  hr.set_session_id(session_id);
  hr.set_version(1);
  hr.set_source_data_ipv4(transport.local().ipv4);
  hr.set_source_data_udp_port(transport.local().udp_port);
  hr.set_key_share(share.public_key());
  hr.set_cipher(dataplane::ProtectionName(transport.config().protection));
  hr.set_probe_bytes(probe_bytes);
  hr.set_boot_id(boot_id);
  if (std::shared_ptr<dataplane::Port> port = transport.port()) {
    hr.set_source_data_mac(std::string(port->mac().begin(), port->mac().end()));
  }
  for (size_t i = 0; i < devs.size(); ++i) {
    SourceDevice& d = devs[i];
    auto* x = hr.add_devices();
    x->set_destination(d.peer_id);
    *x->mutable_flags() = ToProto(group[i].flags);
    if (absl::Status s = d.RefreshStopCopyLength(); !s.ok()) return s;
    x->set_stop_copy_length(d.stop_copy_length);
    // What this daemon knows of the device's class from measurement, for a
    // destination that never was its source (only the class's name if
    // nothing).
    std::optional<DeviceMeasures> own = history.Device(d.history_key);
    *x->mutable_known() =
        SharedMeasures(d.history_key, own.value_or(DeviceMeasures{}));
  }
  return hr;
}

absl::StatusOr<SourceDataPath::Wire> AgreeWire(
    const v1::HandshakeResponse& resp, const KeyShare& share,
    dataplane::Protection wanted, const std::string& session_id) {
  SourceDataPath::Wire wire;
  wire.session = resp.wire_session_id();
  wire.token = resp.session_token();
  wire.peer.ipv4 = resp.data_ipv4();
  wire.peer.udp_port = static_cast<uint16_t>(resp.data_udp_port());
  // Frames go to the destination's port itself, never to every host.
  if (resp.data_mac().size() != 6 ||
      (static_cast<uint8_t>(resp.data_mac()[0]) & 1)) {
    return absl::FailedPreconditionError(
        "the destination named no unicast data-plane MAC address");
  }
  std::copy(resp.data_mac().begin(), resp.data_mac().end(),
            wire.peer.mac.begin());
  std::optional<dataplane::Protection> agreed =
      dataplane::ProtectionFromName(resp.cipher());
  if (!agreed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the destination chose an unknown cipher '", resp.cipher(), "'"));
  }
  if (*agreed == dataplane::Protection::kNone &&
      wanted != dataplane::Protection::kNone) {
    return absl::FailedPreconditionError(
        "the destination offered an unprotected data plane; this daemon's "
        "dataplane.cipher requires aes-256-gcm");
  }
  wire.protection = *agreed;
  if (wire.protection != dataplane::Protection::kNone) {
    absl::StatusOr<SessionKeys> keys =
        share.Derive(resp.key_share(), session_id, KeyShare::Side::kSource);
    if (!keys.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("data-plane keys: ", keys.status().message()));
    }
    wire.keys = *keys;
  }
  return wire;
}

void TakeDestinationFigures(const v1::HandshakeResponse& resp,
                            std::vector<SourceDevice>& devs,
                            SessionPredictor& predictor,
                            MeasureHistory& history) {
  for (size_t i = 0;
       i < devs.size() && i < static_cast<size_t>(resp.devices_size()); ++i) {
    SourceDevice& d = devs[i];
    const auto& m = resp.devices(static_cast<int>(i));
    if (m.arc_ns() > 0) d.dest_arc = absl::Nanoseconds(m.arc_ns());
    // A device never timed here is most like its counterpart there (still
    // a guess, and the bound says so).
    if (d.arc_source == Source::kGuess && m.arc_ns() > 0) d.arc = d.dest_arc;
    d.write_rate = m.write_bytes_per_second();
    // What the destination measured of this device's class as a source of
    // it: a pair where either side has read the class is not a guess.
    if (m.source_class().device_class() == d.history_key) {
      history.Learn(m.source_class(), Origin::kPeer);
      predictor.UseHistory(d);
    }
  }
  // Until this side times one of its own, its barriers are most like the
  // destination's over as many devices.
  predictor.SetDestinationBarrier(absl::Nanoseconds(resp.barrier_ns()));
}

}  // namespace vmig::daemon
