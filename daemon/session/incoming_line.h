// The destination's side of limits.max_incoming_sessions. A source that
// comes (its handshake) while the limit's sessions stream is not taken: it
// gets its place in line and asks again later; places go in the order
// sources first asked. A source that stops asking for kForget (it was
// cancelled, or died) loses its place. Nothing blocks: the source waits on
// its own side.
#ifndef VMIGD_DAEMON_SESSION_INCOMING_LINE_H_
#define VMIGD_DAEMON_SESSION_INCOMING_LINE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace vmig::daemon {

class IncomingLine {
 public:
  // Sources ask again every 200 ms: missing 25 asks in a row is gone.
  static constexpr absl::Duration kForget = absl::Seconds(5);

  // `slots`: sessions that may stream at once (0: no limit).
  explicit IncomingLine(uint32_t slots) : slots_(slots) {}

  // Session `id` asks to stream at `now`. `live`: the destination sessions
  // not ended (the slots of the others are free again). 0: admitted, it
  // holds a slot; otherwise its place in line (1: next).
  size_t Ask(const std::string& id, absl::Time now,
             const absl::flat_hash_set<std::string>& live);
  // Gives the slot (or place) of `id` back: its handshake failed.
  void Release(const std::string& id);

 private:
  const uint32_t slots_;
  absl::Mutex mu_;
  std::vector<std::string> admitted_ ABSL_GUARDED_BY(mu_);
  // Waiting, in the order they first asked, with when each last asked.
  std::vector<std::pair<std::string, absl::Time>> line_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SESSION_INCOMING_LINE_H_
