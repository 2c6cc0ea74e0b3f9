// Loading, defaulting and validating the daemon's configuration.
#ifndef VMIGD_DAEMON_CONFIG_H_
#define VMIGD_DAEMON_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/peer_client.h"
#include "vmig/v1/config.pb.h"

namespace vmig::daemon {

// The smallest bandwidth cap, bytes/s (a port's max_rate, a session's
// max_bandwidth and switchover_bandwidth): below it one 64 KB frame would
// take longer than a stream may stall.
inline constexpr uint64_t kMinBandwidth = 1'000'000;

// Reads `path` (protobuf text format; empty path: no file), merges each
// override (also text format, e.g. "log_level: LOG_LEVEL_DEBUG" or
// "listen { unix_socket: \"/tmp/v.sock\" }") on top, fills defaults and
// validates. Errors name the option.
absl::StatusOr<v1::DaemonConfig> LoadConfig(
    const std::string& path, const std::vector<std::string>& overrides);

// Fills every zero-valued option with its default.
void ApplyDefaults(v1::DaemonConfig& config);
// Checks a defaulted configuration; the error names the first bad option.
absl::Status ValidateConfig(const v1::DaemonConfig& config);

// The peer calls' deadlines, from a defaulted configuration.
PeerDeadlines PeerDeadlinesOf(const v1::PeerConfig& peer);

// "1,3-4" -> {1, 3, 4}: DPDK's -l syntax for lcore lists.
absl::StatusOr<std::vector<unsigned>> ParseLcores(const std::string& text);
// The effective configuration's fingerprint: the first 16 hex digits of the
// SHA-256 of its deterministic serialization. Logged at start instead of
// the configuration itself; `vmigd --check-config` prints it with the
// values, so that an operator can tell which configuration a daemon runs.
std::string ConfigDigest(const v1::DaemonConfig& config);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_CONFIG_H_
