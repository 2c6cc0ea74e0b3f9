// A source session's devices and their streams: lockstep moves of their
// state through the DeviceGroup (timing each arc and the barrier), one send
// stream per data session an arc opens, the link probe, and waits for the
// streams' ends that notice a stall or a cut data path. What to move when
// is the engine's; how long it took is the predictor's to learn.
#ifndef VMIGD_DAEMON_SOURCE_SOURCE_DATA_PATH_H_
#define VMIGD_DAEMON_SOURCE_SOURCE_DATA_PATH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "daemon/session_keys.h"
#include "daemon/source/source_device.h"
#include "dataplane/rate_limiter.h"
#include "dataplane/transport.h"
#include "vfio/device_group.h"

namespace vmig::daemon {

class SourceDataPath {
 public:
  // What the handshake agreed for the session's frames.
  struct Wire {
    uint32_t session = 0;
    uint64_t token = 0;
    dataplane::Protection protection = dataplane::Protection::kAes256Gcm;
    SessionKeys keys{};
    dataplane::Endpoint peer;
  };
  // Called while a wait goes on (`phase` names it): a cancel or a lost
  // peer ends the wait with its error.
  using Checks = absl::FunctionRef<absl::Status(absl::string_view phase)>;

  // `clock` runs the stall checks (a test may step it); arcs, barriers and
  // the probe are measured on the real clock.
  SourceDataPath(std::vector<SourceDevice>& devs,
                 dataplane::Transport& transport, Clock& clock,
                 absl::Duration stall_timeout);

  vfio::DeviceGroup& group() { return group_; }
  void SetWire(const Wire& wire) { wire_ = wire; }
  // The session's cap, which all its send streams share: max_bandwidth in
  // pre-copy, switchover_bandwidth from the switchover on (and for the
  // link probe, which measures the switchover's link).
  dataplane::RateLimiter& cap() { return *cap_; }
  // The switchover has begun: every stream, and any opened from now on, is
  // urgent (served first on its worker).
  void BeginSwitchover();

  // Moves `devs` to `target` in parallel (or one after another); their
  // data sessions go to their records, each with a stream if `add_streams`.
  absl::Status Move(const std::vector<SourceDevice*>& devs,
                    vfio::DeviceState target, bool serial, bool add_streams);
  // What the last parallel Move took beyond its slowest arc.
  absl::Duration last_barrier() const { return last_barrier_; }

  // Streams `bytes` of filler on `stream_id`; returns the rate it went at
  // (bytes/s, 0 if too quick to time).
  absl::StatusOr<double> ProbeLink(uint32_t stream_id, uint64_t bytes,
                                   Checks checks);
  // STOP_COPY and the remaining state: all at once, or (serial) one device
  // moved and drained after another.
  absl::Status StopCopy(const std::vector<SourceDevice*>& order, bool serial,
                        Checks checks);
  // A running stream whose receiver has not been heard for `liveness`
  // (its worker asks an idle receiver for an ack every 250 ms) means the
  // data path is cut, even while the control channel lives.
  absl::Status CheckHeard(absl::Duration liveness) const;
  // Every stream cancelled and its data session closed once the worker
  // lets go. `name` is the session's, for the log.
  void ReleaseStreams(const std::string& name);

 private:
  absl::StatusOr<std::shared_ptr<dataplane::Stream>> OpenStream(
      uint32_t stream_id, vfio::DataSession* data);
  // Waits for the streams of `devs` to end; transfer times count from
  // `since`.
  absl::Status WaitStreams(const std::vector<SourceDevice*>& devs,
                           absl::string_view phase, absl::Time since,
                           Checks checks);

  // How long a wait for a stream's end lasts before the checks run again.
  static constexpr absl::Duration kWaitTick = absl::Milliseconds(2);
  std::vector<SourceDevice>& devs_;
  vfio::DeviceGroup group_;  // in the order of devs_
  dataplane::Transport& transport_;
  Clock& clock_;
  Clock& wall_ = Clock::Real();
  const absl::Duration stall_timeout_;
  const std::shared_ptr<dataplane::RateLimiter> cap_ =
      std::make_shared<dataplane::RateLimiter>();
  Wire wire_;
  bool switching_ = false;
  absl::Duration last_barrier_;
  mutable int64_t last_path_check_ns_ = 0;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_SOURCE_SOURCE_DATA_PATH_H_
