// The source's half of the handshake, as data: the request it sends, the
// wire it agrees to from the answer (never weaker than this daemon's
// protection), and what the answer says of the destination's devices.
// The engine makes the call and waits in the destination's line.
#ifndef VMIGD_DAEMON_SOURCE_SOURCE_HANDSHAKE_H_
#define VMIGD_DAEMON_SOURCE_SOURCE_HANDSHAKE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/measures/measure_history.h"
#include "daemon/session_keys.h"
#include "daemon/source/session_predictor.h"
#include "daemon/source/source_data_path.h"
#include "daemon/source/source_device.h"
#include "dataplane/transport.h"
#include "vfio/device_group.h"
#include "vmig/v1/migration.pb.h"
#include "vmig/v1/peer.pb.h"

namespace vmig::daemon {

// This daemon's data endpoint, key share, cipher, probe size and boot id,
// and each device's destination, flags, current stop-copy length and what
// this daemon measured of its class. Fails on a device that cannot say its
// stop-copy length.
absl::StatusOr<v1::HandshakeRequest> MakeHandshakeRequest(
    const std::string& session_id, std::vector<SourceDevice>& devs,
    const vfio::DeviceGroup& group, dataplane::Transport& transport,
    const MeasureHistory& history, const KeyShare& share, uint64_t probe_bytes,
    const std::string& boot_id);

// The wire of the answer: its endpoint and unicast MAC, a protection no
// weaker than `wanted`, and this side's keys.
absl::StatusOr<SourceDataPath::Wire> AgreeWire(
    const v1::HandshakeResponse& resp, const KeyShare& share,
    dataplane::Protection wanted, const std::string& session_id);

// What the destination knows of its devices (arcs measured as it prepared
// them, write rates from earlier migrations into them, its measures of a
// class it was the source of) and its barrier.
void TakeDestinationFigures(const v1::HandshakeResponse& resp,
                            std::vector<SourceDevice>& devs,
                            SessionPredictor& predictor,
                            MeasureHistory& history);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_SOURCE_HANDSHAKE_H_
