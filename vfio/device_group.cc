#include "vfio/device_group.h"

#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace vmig::vfio {

DeviceState NearestState(DeviceState target, MigrationFlags flags) {
  DeviceState t = target;
  if (t == DeviceState::kPreCopyP2P && !flags.has(kMigPreCopy))
    t = DeviceState::kRunningP2P;
  if (t == DeviceState::kPreCopyP2P && !flags.has(kMigP2P))
    t = DeviceState::kPreCopy;
  if (t == DeviceState::kPreCopy && !flags.has(kMigPreCopy))
    t = DeviceState::kRunning;
  if (t == DeviceState::kRunningP2P && !flags.has(kMigP2P))
    t = DeviceState::kRunning;
  return t;
}

absl::Status DeviceGroup::Add(std::string name,
                              std::shared_ptr<MigrationDevice> device,
                              Recovery recovery) {
  absl::StatusOr<MigrationFlags> flags = device->GetMigrationFlags();
  absl::Status result = absl::OkStatus();
  if (!flags.ok()) {
    result = absl::Status(
        flags.status().code(),
        absl::StrCat(name, ": migration flags: ", flags.status().message()));
  }
  members_.push_back({std::move(name), std::move(device),
                      flags.value_or(MigrationFlags()), recovery});
  // The threads of a barrier across every member, started while the group
  // forms rather than inside its first barrier.
  pool_->Reserve(members_.size());
  return result;
}

absl::Status DeviceGroup::Move(const std::vector<size_t>& which,
                               DeviceState target, Schedule schedule,
                               std::vector<Arc>* arcs) {
  std::vector<Arc> local;
  std::vector<Arc>& out = arcs ? *arcs : local;
  out.clear();
  out.resize(which.size());
  auto one = [&](size_t i) {
    Member& m = members_[which[i]];
    const DeviceState t = NearestState(target, m.flags);
    const absl::Time start = absl::Now();
    absl::StatusOr<std::unique_ptr<DataSession>> r = m.device->SetState(t);
    out[i].took = absl::Now() - start;
    if (!r.ok()) {
      out[i].status = absl::Status(
          r.status().code(), absl::StrCat(m.name, " -> ", DeviceStateName(t),
                                          ": ", r.status().message()));
    } else {
      out[i].data = std::move(*r);
    }
  };
  if (schedule == Schedule::kSerial) {
    for (size_t i = 0; i < which.size(); ++i) one(i);
  } else {
    pool_->ParallelFor(which.size(), one);
  }
  std::vector<std::string> errors;
  absl::StatusCode code = absl::StatusCode::kOk;
  for (const Arc& a : out) {
    if (a.status.ok()) continue;
    errors.emplace_back(a.status.message());
    if (code == absl::StatusCode::kOk) code = a.status.code();
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::Status(code, absl::StrJoin(errors, "; "));
}

absl::Status DeviceGroup::MoveAll(DeviceState target, Schedule schedule,
                                  std::vector<Arc>* arcs) {
  std::vector<size_t> all(members_.size());
  std::iota(all.begin(), all.end(), 0);
  return Move(all, target, schedule, arcs);
}

void DeviceGroup::Reorder(const std::vector<size_t>& order) {
  std::vector<Member> members;
  members.reserve(order.size());
  for (size_t i : order) members.push_back(std::move(members_[i]));
  members_ = std::move(members);
}

absl::Status DeviceGroup::Recover() {
  std::vector<absl::Status> results(members_.size());
  pool_->ParallelFor(members_.size(), [&](size_t i) {
    Member& m = members_[i];
    if (m.recovery == Recovery::kKeep) return;
    if (m.recovery == Recovery::kResume) {
      absl::StatusOr<DeviceState> st = m.device->GetState();
      if (st.ok() && *st == DeviceState::kRunning) return;
      if (st.ok() && *st != DeviceState::kError &&
          m.device->SetState(DeviceState::kRunning).ok()) {
        return;
      }
    }
    if (absl::Status r = m.device->Reset(); !r.ok()) {
      results[i] = absl::Status(
          r.code(), absl::StrCat(m.name, ": reset failed: ", r.message()));
    }
  });
  std::vector<std::string> errors;
  for (const absl::Status& s : results) {
    if (!s.ok()) errors.emplace_back(s.message());
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrJoin(errors, "; "));
}

}  // namespace vmig::vfio
