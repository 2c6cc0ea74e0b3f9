// The memif control socket as vmigd's ports use it: which role a port's
// arguments give it, and the clean-up a server needs after a predecessor
// was killed without removing its socket file.
#ifndef VMIGD_DATAPLANE_MEMIF_SOCKET_H_
#define VMIGD_DATAPLANE_MEMIF_SOCKET_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vmig::dataplane {

// memif's arguments ("role=client,socket=/run/m.sock,..."): the role (DPDK's
// default is server) and the socket path ("/run/memif.sock" by default).
bool MemifRoleIsClient(absl::string_view args);
bool MemifZeroCopy(absl::string_view args);
std::string MemifSocketPath(absl::string_view args);

// Whether a memif server accepts connections on the socket now.
bool MemifSocketServed(absl::string_view args);

// For a server on a filesystem socket (socket-abstract=no): removes a socket
// file that nobody listens on any more. FAILED_PRECONDITION if a live
// process still serves it (two servers on one socket is a configuration
// error); OK if there was nothing to remove. An abstract socket goes away
// with its process and needs nothing.
absl::Status RemoveStaleMemifSocket(absl::string_view args);

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_MEMIF_SOCKET_H_
