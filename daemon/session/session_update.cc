// UpdateSession: a running source session's budget and pre-copy policy,
// changed between two of its engine's decisions (the engine reads them
// from the session record at every one).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/config.h"
#include "daemon/session/session_manager.h"
#include "proto/convert.h"

namespace vmig::daemon {

absl::Status ValidateBudget(const google::protobuf::Duration& d) {
  const absl::Duration budget = FromProto(d);
  if (budget < absl::Milliseconds(1) || budget > absl::Seconds(60)) {
    return absl::InvalidArgumentError(
        absl::StrCat("downtime_budget: ", absl::FormatDuration(budget),
                     " is outside 1ms..60s"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePrecopy(const v1::PrecopyPolicy& p) {
  if (p.has_max_precopy()) {
    const absl::Duration m = FromProto(p.max_precopy());
    if (m <= absl::ZeroDuration() || m > absl::Hours(24)) {
      return absl::InvalidArgumentError(
          "precopy.max_precopy: must be in (0, 24h]");
    }
  }
  if (!v1::PrecopyPolicy::OnTimeout_IsValid(p.on_timeout())) {
    return absl::InvalidArgumentError(
        absl::StrCat("precopy.on_timeout: ", static_cast<int>(p.on_timeout()),
                     " is not a value of OnTimeout"));
  }
  return absl::OkStatus();
}

absl::Status ValidateBandwidth(const char* field, uint64_t bytes_per_second) {
  if (bytes_per_second != 0 && bytes_per_second < kMinBandwidth) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", bytes_per_second, " bytes/s is below the least cap of ",
        kMinBandwidth, " bytes/s (0: no cap)"));
  }
  return absl::OkStatus();
}

namespace {

// The phases in which a session's policy may still change.
bool BeforeSwitchover(v1::Phase p) {
  return p == v1::PHASE_QUEUED || p == v1::PHASE_HANDSHAKE ||
         p == v1::PHASE_PRECOPY || p == v1::PHASE_READY;
}

}  // namespace

absl::StatusOr<v1::Session> SessionManager::UpdateSession(
    const v1::UpdateSessionRequest& req) {
  if (req.update_mask().paths().empty()) {
    return absl::InvalidArgumentError(
        "update_mask: name at least one field (downtime_budget, precopy, "
        "allow_budget_overrun, max_bandwidth, switchover_bandwidth)");
  }
  const v1::Session& in = req.session();
  for (const std::string& path : req.update_mask().paths()) {
    if (path == "downtime_budget") {
      if (absl::Status s = ValidateBudget(in.downtime_budget()); !s.ok())
        return s;
    } else if (path == "precopy" || path == "precopy.max_precopy" ||
               path == "precopy.on_timeout") {
      if (absl::Status s = ValidatePrecopy(in.precopy()); !s.ok()) return s;
    } else if (path == "max_bandwidth") {
      if (absl::Status s =
              ValidateBandwidth("max_bandwidth", in.max_bandwidth());
          !s.ok())
        return s;
    } else if (path == "switchover_bandwidth") {
      if (absl::Status s = ValidateBandwidth("switchover_bandwidth",
                                             in.switchover_bandwidth());
          !s.ok())
        return s;
    } else if (path != "allow_budget_overrun") {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: '", path.substr(0, 64),
          "' cannot be updated (downtime_budget, precopy, "
          "precopy.max_precopy, precopy.on_timeout, allow_budget_overrun, "
          "max_bandwidth, switchover_bandwidth)"));
    }
  }
  absl::StatusOr<std::shared_ptr<SessionRecord>> s = Find(in.name());
  if (!s.ok()) return s.status();
  if ((*s)->role() != v1::ROLE_SOURCE) {
    return absl::FailedPreconditionError(
        absl::StrCat((*s)->name(),
                     " is a destination session: its source decides the "
                     "switchover"));
  }
  v1::Phase seen = v1::PHASE_UNSPECIFIED;
  // Checked and applied under the record's lock: a switchover that begins
  // meanwhile either sees the new policy or makes this call fail.
  (*s)->Update([&](v1::Session& p) {
    seen = p.phase();
    if (!BeforeSwitchover(seen)) return;
    for (const std::string& path : req.update_mask().paths()) {
      if (path == "downtime_budget") {
        *p.mutable_downtime_budget() = in.downtime_budget();
      } else if (path == "precopy") {
        *p.mutable_precopy() = in.precopy();
      } else if (path == "precopy.max_precopy") {
        *p.mutable_precopy()->mutable_max_precopy() =
            in.precopy().max_precopy();
      } else if (path == "precopy.on_timeout") {
        p.mutable_precopy()->set_on_timeout(in.precopy().on_timeout());
      } else if (path == "allow_budget_overrun") {
        p.set_allow_budget_overrun(in.allow_budget_overrun());
      } else if (path == "max_bandwidth") {
        p.set_max_bandwidth(in.max_bandwidth());
      } else if (path == "switchover_bandwidth") {
        p.set_switchover_bandwidth(in.switchover_bandwidth());
      }
    }
  });
  if (!BeforeSwitchover(seen)) {
    return absl::FailedPreconditionError(
        absl::StrCat((*s)->name(), " is ", v1::Phase_Name(seen),
                     ": its budget, policy and caps can change only before the "
                     "switchover"));
  }
  return (*s)->Snapshot();
}

}  // namespace vmig::daemon
