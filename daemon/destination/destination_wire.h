// The destination's half of the handshake, as checks on data: the order in
// which the source streams the session's devices, the lockstep every
// several-device resume needs, and the frame protection and keys.
#ifndef VMIGD_DAEMON_DESTINATION_DESTINATION_WIRE_H_
#define VMIGD_DAEMON_DESTINATION_DESTINATION_WIRE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/session_keys.h"
#include "dataplane/wire.h"
#include "vfio/device_group.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

// The source's stream order as indices into `ids` (the session's devices):
// each named once, all of them. `session` names the session in errors.
absl::StatusOr<std::vector<size_t>> SourceOrder(
    const v1::HandshakeRequest& req, const std::vector<std::string>& ids,
    const std::string& session);

// Several devices resume in lockstep through RUNNING_P2P: each needs P2P.
// The error names every device that lacks it.
absl::Status CheckLockstep(const vfio::DeviceGroup& group,
                           const std::vector<std::string>& ids);

// The session's frame protection (unprotected only if the source asks and
// this daemon is configured so, `configured`) and its keys; the source's
// MAC must be unicast.
struct Agreement {
  dataplane::Protection protection = dataplane::Protection::kAes256Gcm;
  SessionKeys keys{};
  std::string key_share;  // this side's public key, for the answer
};
absl::StatusOr<Agreement> AgreeWithSource(const v1::HandshakeRequest& req,
                                          dataplane::Protection configured);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_DESTINATION_DESTINATION_WIRE_H_
