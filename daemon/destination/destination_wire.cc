#include "daemon/destination/destination_wire.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vmig::daemon {

absl::StatusOr<std::vector<size_t>> SourceOrder(
    const v1::HandshakeRequest& req, const std::vector<std::string>& ids,
    const std::string& session) {
  if (static_cast<size_t>(req.devices_size()) != ids.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the source maps ", req.devices_size(), " devices; ",
                     session, " prepared ", ids.size()));
  }
  std::vector<size_t> order;
  for (const auto& d : req.devices()) {
    auto it = std::find(ids.begin(), ids.end(), d.destination());
    const size_t i = static_cast<size_t>(it - ids.begin());
    if (it == ids.end() ||
        std::find(order.begin(), order.end(), i) != order.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device ", d.destination(), " is not (once) part of ", session));
    }
    order.push_back(i);
  }
  return order;
}

absl::Status CheckLockstep(const vfio::DeviceGroup& group,
                           const std::vector<std::string>& ids) {
  if (group.size() < 2) return absl::OkStatus();
  std::vector<std::string> lacking;
  for (size_t i = 0; i < group.size(); ++i) {
    if (!group[i].flags.has(vfio::kMigP2P))
      lacking.push_back(absl::StrCat("devices/", ids[i]));
  }
  if (lacking.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      absl::StrJoin(lacking, ", "),
      " lack P2P (VFIO_MIGRATION_P2P): several devices resume in lockstep, "
      "every one through RUNNING_P2P"));
}

absl::StatusOr<Agreement> AgreeWithSource(const v1::HandshakeRequest& req,
                                          dataplane::Protection configured) {
  // Acks go to the source's port itself, never to every host.
  if (req.source_data_mac().size() != 6 ||
      (static_cast<uint8_t>(req.source_data_mac()[0]) & 1)) {
    return absl::InvalidArgumentError(
        "source_data_mac: the source's unicast data-plane MAC is required");
  }
  std::optional<dataplane::Protection> asked =
      dataplane::ProtectionFromName(req.cipher());
  if (!asked) {
    return absl::InvalidArgumentError(
        absl::StrCat("cipher '", req.cipher(), "' is not aes-256-gcm or none"));
  }
  Agreement out;
  // Unprotected only if both daemons are configured so.
  out.protection = *asked == dataplane::Protection::kNone &&
                           configured == dataplane::Protection::kNone
                       ? dataplane::Protection::kNone
                       : dataplane::Protection::kAes256Gcm;
  if (out.protection == dataplane::Protection::kNone) return out;
  absl::StatusOr<KeyShare> share = KeyShare::Generate();
  if (!share.ok()) return share.status();
  absl::StatusOr<SessionKeys> keys = share->Derive(
      req.key_share(), req.session_id(), KeyShare::Side::kDestination);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key_share: ", keys.status().message()));
  }
  out.keys = *keys;
  out.key_share = share->public_key();
  return out;
}

}  // namespace vmig::daemon
