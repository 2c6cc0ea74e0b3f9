// Checks of configuration values that would otherwise fail only later (at
// the TLS handshake, in DPDK's EAL or a PMD, at the first attach): each
// returns OK or a message saying what is wrong, without the option's name
// (the caller adds it) and without echoing more than a bounded part of the
// value.
#ifndef VMIGD_DAEMON_CONFIG_CHECKS_H_
#define VMIGD_DAEMON_CONFIG_CHECKS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "vmig/v1/config.pb.h"

namespace vmig::daemon {

// A readable regular file holding at least one PEM block.
absl::Status CheckPemFile(const std::string& path);
// DPDK memif vdev arguments ("key=value,..."): known keys, valid values.
absl::Status CheckMemifArgs(absl::string_view args);
// An EAL --file-prefix: a plain name, no path.
absl::Status CheckFilePrefix(absl::string_view prefix);
// Injected frame faults: each probability a number from 0 to 1 (not NaN),
// together at most 1 (a frame meets at most one fault). The message names
// the field ("drop", ...).
absl::Status CheckFrameFaults(const v1::FrameFaults& faults);
// Every enum field in `config`, however deep (repeated ones too), holds a
// value its enum defines: proto3 keeps any number ("log_level: 99"). An
// error names the option by its path and lists the names it takes.
absl::Status CheckEnumValues(const google::protobuf::Message& config);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_CONFIG_CHECKS_H_
