// A set of devices that migrate together. It moves them to a target state
// in parallel (on the group's ArcPool: one thread a device for the group's
// life, so that a barrier costs one transition)
// or one after another, each to the nearest state it has, and it knows per
// device what a failure must bring it back to. Every place that moves a
// group of devices (the source engine, the destination session, the local
// round trip) does it here, so the recovery rule exists once.
#ifndef VMIGD_VFIO_DEVICE_GROUP_H_
#define VMIGD_VFIO_DEVICE_GROUP_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "vfio/arc_pool.h"
#include "vfio/device.h"

namespace vmig::vfio {

// What a failure brings a device back to.
enum class Recovery {
  // A source device before the commit: RUNNING with its state; reset only
  // if it is in ERROR or refuses the way back (a reset keeps the device's
  // own state, the data_fd is what it loses).
  kResume,
  // A destination device before the commit: reset, which abandons RESUMING
  // and leaves it RUNNING on its own state.
  kReset,
  // After the commit: the outcome stands, nothing is undone.
  kKeep,
};

// The state a device with `flags` takes for `target` when it lacks the
// optional states: PRE_COPY_P2P is RUNNING_P2P without PRE_COPY and
// PRE_COPY without P2P; RUNNING_P2P is RUNNING without P2P; PRE_COPY is
// RUNNING without PRE_COPY.
DeviceState NearestState(DeviceState target, MigrationFlags flags);

class DeviceGroup {
 public:
  struct Member {
    std::string name;
    std::shared_ptr<MigrationDevice> device;
    MigrationFlags flags;
    Recovery recovery = Recovery::kResume;
  };
  // One device's arc (or path) to the target.
  struct Arc {
    absl::Status status;  // names the device and the target on failure
    std::unique_ptr<DataSession> data;  // the data session it opened, if any
    absl::Duration took;
  };
  enum class Schedule { kParallel, kSerial };

  // Reads the device's migration flags. A device that cannot report them
  // joins all the same, without the optional states (so that it is still
  // recovered), and the error names it.
  absl::Status Add(std::string name, std::shared_ptr<MigrationDevice> device,
                   Recovery recovery);

  size_t size() const { return members_.size(); }
  Member& operator[](size_t i) { return members_[i]; }
  const Member& operator[](size_t i) const { return members_[i]; }

  // Moves the members `which` (indices) to `target`, each to its nearest
  // state. `arcs` gets one entry per index in `which`. Returns OK, or an
  // error joining every device's failure.
  absl::Status Move(const std::vector<size_t>& which, DeviceState target,
                    Schedule schedule, std::vector<Arc>* arcs);
  // The same for every member.
  absl::Status MoveAll(DeviceState target, Schedule schedule,
                       std::vector<Arc>* arcs);

  // Puts the members in `order` (a permutation of their indices).
  void Reorder(const std::vector<size_t>& order);

  void SetRecovery(Recovery r) {
    for (Member& m : members_) m.recovery = r;
  }
  // Brings every member to what its Recovery says, in parallel. Returns the
  // failures (a reset that failed), each naming its device.
  absl::Status Recover();

  // The threads the group's arcs run on (tests: at most size() - 1).
  size_t arc_threads() const { return pool_->threads(); }

 private:
  std::vector<Member> members_;
  // Behind a pointer so that a group stays movable.
  std::unique_ptr<ArcPool> pool_ = std::make_unique<ArcPool>();
};

}  // namespace vmig::vfio

#endif  // VMIGD_VFIO_DEVICE_GROUP_H_
