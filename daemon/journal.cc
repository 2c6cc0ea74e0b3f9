#include "daemon/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/fmt_absl.h"
#include "daemon/session_record.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace vmig::daemon {
namespace {

// Compact once this many records were appended since the last compaction.
constexpr size_t kCompactAfter = 4096;

absl::Status WriteAll(int fd, const std::string& data,
                      const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("write ", what));
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Line(const v1::JournalRecord& r) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = false;
  auto st = google::protobuf::util::MessageToJsonString(r, &out, opts);
  if (!st.ok()) {
    return absl::InternalError(
        absl::StrCat("journal record: ", std::string(st.message())));
  }
  return out + "\n";
}

}  // namespace

void Journal::Apply(const v1::JournalRecord& r, State& s) {
  switch (r.entry_case()) {
    case v1::JournalRecord::kDeviceAttached:
      s.devices[r.device_attached().device_id()] = r.device_attached();
      break;
    case v1::JournalRecord::kDeviceDetached:
      s.devices.erase(r.device_detached());
      break;
    case v1::JournalRecord::kSession:
      s.sessions[r.session().id()] = r.session();
      break;
    case v1::JournalRecord::ENTRY_NOT_SET:
      break;
  }
}

namespace {

// A new name (a file created, or renamed over another) is on disk only once
// its directory is: a durable record appended to a journal whose rename
// was lost with the power would be lost with it.
absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", dir));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return absl::ErrnoToStatus(err, absl::StrCat("fsync ", dir));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("state_dir: cannot create ", dir, ": ", ec.message()));
  }
  const std::string path = dir + "/journal";
  State state;
  size_t bad = 0;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      v1::JournalRecord r;
      if (line.empty() ||
          !google::protobuf::util::JsonStringToMessage(line, &r).ok()) {
        ++bad;  // a torn last line, written as the daemon died
        continue;
      }
      Apply(r, state);
    }
  }
  if (bad > 0)
    spdlog::warn("journal {}: skipped {} unreadable lines", path, bad);
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::unique_ptr<Journal> j(new Journal(dir, fd));
  j->recovered_ = state;
  absl::MutexLock lock(&j->mu_);
  j->state_ = std::move(state);
  std::vector<std::pair<uint64_t, std::string>> finished;
  for (const auto& [id, s] : j->state_.sessions) {
    j->sequence_ = std::max(j->sequence_, s.sequence());
    if (IsTerminal(s.phase())) finished.emplace_back(s.sequence(), id);
  }
  std::sort(finished.begin(), finished.end());  // oldest first
  for (auto& [_, id] : finished) j->finished_.push_back(std::move(id));
  if (absl::Status s = j->Compact(); !s.ok()) return s;
  return j;
}

Journal::~Journal() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) ::close(fd_);
}

absl::Status Journal::Append(const v1::JournalRecord& r, bool durable) {
  Apply(r, state_);
  absl::StatusOr<std::string> line = Line(r);
  if (!line.ok()) return line.status();
  if (absl::Status s = WriteAll(fd_, *line, dir_ + "/journal"); !s.ok())
    return s;
  if (durable && ::fdatasync(fd_) != 0)
    return absl::ErrnoToStatus(errno, "fdatasync journal");
  if (++appended_ >= kCompactAfter) return Compact();
  return absl::OkStatus();
}

absl::Status Journal::Compact() {
  // Only the newest finished sessions stay.
  while (finished_.size() > kKeptFinishedSessions) {
    state_.sessions.erase(finished_.front());
    finished_.erase(finished_.begin());
  }
  std::string all;
  for (const auto& [_, d] : state_.devices) {
    v1::JournalRecord r;
    *r.mutable_device_attached() = d;
    absl::StatusOr<std::string> line = Line(r);
    if (!line.ok()) return line.status();
    all += *line;
  }
  for (const auto& [_, s] : state_.sessions) {
    v1::JournalRecord r;
    *r.mutable_session() = s;
    absl::StatusOr<std::string> line = Line(r);
    if (!line.ok()) return line.status();
    all += *line;
  }
  const std::string path = dir_ + "/journal", tmp = path + ".new";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", tmp));
  absl::Status s = WriteAll(fd, all, tmp);
  if (s.ok() && ::fdatasync(fd) != 0)
    s = absl::ErrnoToStatus(errno, "fdatasync " + tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    s = absl::ErrnoToStatus(errno, "rename " + tmp);
  if (s.ok()) s = SyncDirectory(dir_);
  if (!s.ok()) return s;
  const int fresh = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
  if (fresh < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  if (fd_ >= 0) ::close(fd_);
  fd_ = fresh;
  appended_ = 0;
  return absl::OkStatus();
}

absl::Status Journal::DeviceAttached(const v1::AttachDeviceRequest& req) {
  absl::MutexLock lock(&mu_);
  v1::JournalRecord r;
  *r.mutable_device_attached() = req;
  return Append(r, false);
}

absl::Status Journal::DeviceDetached(const std::string& id) {
  absl::MutexLock lock(&mu_);
  v1::JournalRecord r;
  r.set_device_detached(id);
  return Append(r, false);
}

absl::Status Journal::SessionChanged(const v1::JournalSession& s,
                                     bool durable) {
  absl::MutexLock lock(&mu_);
  const bool was_finished = state_.sessions.count(s.id()) &&
                            IsTerminal(state_.sessions[s.id()].phase());
  if (IsTerminal(s.phase()) && !was_finished) finished_.push_back(s.id());
  if (!IsTerminal(s.phase())) {
    // An id used again: its old finished record is not the one to prune.
    finished_.erase(std::remove(finished_.begin(), finished_.end(), s.id()),
                    finished_.end());
  }
  v1::JournalRecord r;
  *r.mutable_session() = s;
  r.mutable_session()->set_sequence(++sequence_);
  return Append(r, durable);
}

}  // namespace vmig::daemon
