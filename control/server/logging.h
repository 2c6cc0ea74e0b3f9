// Logging to stderr with sd-daemon priority prefixes ("<6>info"), which
// journald turns into message priorities. Uses spdlog.
#ifndef VMIGD_CONTROL_SERVER_LOGGING_H_
#define VMIGD_CONTROL_SERVER_LOGGING_H_

#include "vmig/v1/config.pb.h"

namespace vmig::server {

void InitLogging(v1::DaemonConfig::LogLevel level);
void SetLogLevel(v1::DaemonConfig::LogLevel level);

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_LOGGING_H_
