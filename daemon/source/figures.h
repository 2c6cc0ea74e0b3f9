// The units the source's messages and logs give their figures in.
#ifndef VMIGD_DAEMON_SOURCE_FIGURES_H_
#define VMIGD_DAEMON_SOURCE_FIGURES_H_

#include "absl/time/time.h"

namespace vmig::daemon {

inline double MiB(double bytes) { return bytes / (1 << 20); }
inline double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_FIGURES_H_
