// The downtime model: how long one switchover takes, as a pure function of
// per-device and link inputs, with an upper bound. The source engine
// predicts with it before it switches over, and `vmig-bench sweep`/`model`/
// `predict` project with it; one model, so that a benchmark's figure and
// the engine's decision cannot drift apart.
//
// The switchover is three phases, each a barrier over the devices:
//   quiesce    every device to PRE_COPY_P2P (or RUNNING_P2P): one arc each;
//   stop-copy  every device to STOP_COPY (one arc, or two from RUNNING_P2P),
//              then the remaining state, each device at the slowest of its
//              read rate and its destination's write rate, all of them
//              through one link;
//   commit     one round trip and the commit's fixed work (journal writes),
//              and three destination arcs (RESUMING -> STOP -> RUNNING_P2P
//              -> RUNNING), each a barrier.
// Parallel, each phase lasts as long as its slowest device (and stop-copy
// at least all bytes over the link); serial, the devices' times add up.
#ifndef VMIGD_DAEMON_MODEL_DOWNTIME_MODEL_H_
#define VMIGD_DAEMON_MODEL_DOWNTIME_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace vmig::daemon {

// How a term of the model was obtained; it sets that term's share of the
// bound.
enum class Source {
  kMeasured,  // in this session, on this device or link
  kHistory,   // by this daemon, in an earlier migration of this device
  kGuess,     // nothing measured: an assumption
};

struct DeviceTerms {
  std::string id;
  // What STOP_COPY still has to move.
  uint64_t remaining_bytes = 0;
  // The source data_fd's read rate, bytes/s; 0: unknown (the link stands
  // in, as a guess).
  double read_rate = 0;
  Source read_source = Source::kGuess;
  // Without a read rate: the least it was seen to read at (0: none). The
  // guess stays the link's rate, but the bound never assumes less, and
  // otherwise assumes kSlowestGuessedReadRate.
  double read_floor = 0;
  // The destination device's write rate, bytes/s; 0: it never pushed back
  // (not what limits).
  double write_rate = 0;
  // One arc of this device on each side.
  absl::Duration source_arc = absl::Milliseconds(1);
  Source arc_source = Source::kGuess;
  absl::Duration destination_arc = absl::Milliseconds(1);
  bool precopy = false;
};

struct LinkTerms {
  // Bytes/s over all streams together; 0: unknown (kAssumedLinkRate).
  double rate = 0;
  Source rate_source = Source::kGuess;
  // The commit's fixed cost: a round trip to the peer and the journal
  // writes on both sides.
  absl::Duration commit_overhead = absl::Milliseconds(1);
  // What one parallel barrier costs on each side beyond its slowest arc.
  absl::Duration source_barrier, destination_barrier;
  // Stop-copy's fixed cost beyond its arcs and bytes (the last chunks'
  // acknowledgment, waking the engine), per device stream when serial: as
  // this daemon measured it before (zero: never; not a term then).
  absl::Duration stop_copy_overhead;
  bool serial = false;
};

// What a daemon with no measurement assumes of its link.
inline constexpr double kAssumedLinkRate = 1e9;

// What the bound assumes of a device whose read rate nothing measured (a
// device without PRE_COPY that this daemon never read cannot be read
// before it stops): that it streams at least this fast. The slowest
// figures published for the classes vmigd drives are mlx5 VFs moving
// 300 MB in 1.9 s without pre-copy (about 150 MiB/s end to end); a device
// slower than this is over-promised on its first migration, and its class
// is measured from then on. The expectation still takes the link's rate.
inline constexpr double kSlowestGuessedReadRate = 128.0 * 1024 * 1024;

// Scheduling jitter on a host whose cores the daemons share: added once to
// the bound, whatever the inputs. No prediction is finer than this.
inline constexpr absl::Duration kSchedulingJitter = absl::Milliseconds(2);

struct Prediction {
  absl::Duration expected, bound;
  // Per phase, expected.
  absl::Duration quiesce, stop_copy, commit;
  // The part of stop_copy that is its learned fixed cost (all of them,
  // serial): what the rest of the model explains is stop_copy less this.
  absl::Duration stop_copy_overhead;
  // Per device, expected: its stop-copy arcs and transfer (the critical
  // path of stop-copy is the longest, or the link).
  std::vector<absl::Duration> device_stop_copy;
  // The device (or "the link") that sets the stop-copy phase.
  std::string critical;
  // What was guessed rather than measured, for the user ("" if nothing).
  std::string guesses;
};

Prediction PredictDowntime(const std::vector<DeviceTerms>& devices,
                           const LinkTerms& link);

// The relative uncertainty the bound allows a term obtained from `s`.
double Uncertainty(Source s);

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_MODEL_DOWNTIME_MODEL_H_
