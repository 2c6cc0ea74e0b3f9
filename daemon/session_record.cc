#include "daemon/session_record.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/fmt_absl.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {

bool IsTerminal(v1::Phase p) {
  return p == v1::PHASE_COMPLETED || p == v1::PHASE_CANCELLED ||
         p == v1::PHASE_FAILED;
}

SessionRecord::SessionRecord(std::string id, v1::Role role)
    : id_(std::move(id)), role_(role) {
  absl::MutexLock lock(&mu_);
  session_.set_name(name());
  session_.set_role(role);
  ToProto(absl::Now(), session_.mutable_create_time());
  *session_.mutable_update_time() = session_.create_time();
}

v1::Session SessionRecord::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return session_;
}

v1::Phase SessionRecord::phase() const {
  absl::MutexLock lock(&mu_);
  return session_.phase();
}

absl::Time SessionRecord::update_time() const {
  absl::MutexLock lock(&mu_);
  return FromProto(session_.update_time());
}

void SessionRecord::Update(const std::function<void(v1::Session&)>& change) {
  v1::Session journal;
  uint64_t version = 0;
  v1::JournalSession::Commit commit;
  v1::Phase before;
  v1::Session observed;
  {
    absl::MutexLock lock(&mu_);
    before = session_.phase();
    const std::string error_before = session_.error();
    change(session_);
    ToProto(absl::Now(), session_.mutable_update_time());
    version = ++version_;
    commit = commit_;
    if (session_.phase() != before) {
      spdlog::info(
          "{}: phase {} -> {}{}", name(), v1::Phase_Name(before),
          v1::Phase_Name(session_.phase()),
          session_.error().empty() ? "" : absl::StrCat(": ", session_.error()));
      if (phase_observer_) observed = session_;
    }
    if (journal_ &&
        (session_.phase() != before || session_.error() != error_before))
      journal = session_;
    changed_.SignalAll();
  }
  if (!journal.name().empty()) {
    if (absl::Status s = Journal(journal, version, commit, false); !s.ok())
      spdlog::error("{}: journal: {}", name(), s.message());
  }
  if (!observed.name().empty()) phase_observer_(before, observed);
}

absl::Status SessionRecord::MarkCommit(v1::JournalSession::Commit c) {
  v1::Session now;
  uint64_t version;
  {
    absl::MutexLock lock(&mu_);
    commit_ = c;
    now = session_;
    version = ++version_;
  }
  if (!journal_) return absl::OkStatus();
  return Journal(now, version, c, true);
}

v1::JournalSession::Commit SessionRecord::commit_mark() const {
  absl::MutexLock lock(&mu_);
  return commit_;
}

absl::Status SessionRecord::Journal(const v1::Session& s, uint64_t version,
                                    v1::JournalSession::Commit c,
                                    bool durable) {
  absl::MutexLock lock(&journal_mu_);
  // A later state was journalled already: this one is out of date.
  if (version <= journalled_ && !durable) return absl::OkStatus();
  journalled_ = std::max(journalled_, version);
  return journal_(s, c, durable);
}

uint64_t SessionRecord::WaitForChange(uint64_t seen, absl::Time until) const {
  absl::MutexLock lock(&mu_);
  while (version_ == seen && absl::Now() < until) {
    changed_.WaitWithDeadline(&mu_, until);
  }
  return version_;
}

bool SessionRecord::WaitTerminal(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (!IsTerminal(session_.phase())) {
    if (changed_.WaitWithDeadline(&mu_, deadline)) {
      return IsTerminal(session_.phase());
    }
  }
  return true;
}

}  // namespace vmig::daemon
