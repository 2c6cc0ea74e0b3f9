// The daemon's journal: a small append-only file under state_dir that keeps
// what a restart (clean, or kill -9) needs: the devices attached through
// the API and each session's phases and commit marks. One JSON line per
// record (protobuf's JSON form: readable with cat, and a torn last line is
// simply skipped); compacted into one record per device and session when
// opened and whenever it has grown.
//
// What survives a power loss (the sync policy): a record is on disk when
// its call returns only if it is durable; durable are the commit marks,
// which are all that recovery cannot rebuild otherwise (the source's
// COMMIT_BEGUN before its Commit call and COMMIT_DONE; the destination's
// COMMIT_BEGUN before a device runs and COMMIT_ABORTED before it answers
// ABORTED). A durable record's fdatasync also carries every record
// appended before it. A compaction writes the new file, syncs it, renames
// it over the old one and syncs the directory, so that no durable record
// is ever only in a file whose name the disk has not got. Everything else
// (phases, attached devices after the last mark) may be lost with the
// power: the devices that a host lost power under do not survive either,
// and a session without its mark is rolled back, as it would be anyway.
#ifndef VMIGD_DAEMON_JOURNAL_H_
#define VMIGD_DAEMON_JOURNAL_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "vmig/v1/journal.pb.h"

namespace vmig::daemon {

class Journal {
 public:
  struct State {
    // Devices attached through the API, by id.
    std::map<std::string, v1::AttachDeviceRequest> devices;
    // Sessions by id, each as last journalled.
    std::map<std::string, v1::JournalSession> sessions;
  };

  // Opens <dir>/journal (creating dir and file), reads what an earlier run
  // left, and compacts it.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(const std::string& dir);
  ~Journal();

  // What the earlier run left (as read at Open).
  const State& recovered() const { return recovered_; }

  absl::Status DeviceAttached(const v1::AttachDeviceRequest& req);
  absl::Status DeviceDetached(const std::string& id);
  // `durable`: on disk (fdatasync) before it returns; otherwise written to
  // the file (a killed process loses nothing; a host that loses power may
  // lose the last phases, which its devices do not survive either).
  absl::Status SessionChanged(const v1::JournalSession& s, bool durable);

  // Finished sessions kept across compactions (the newest).
  static constexpr size_t kKeptFinishedSessions = 64;

 private:
  Journal(std::string dir, int fd) : dir_(std::move(dir)), fd_(fd) {}
  absl::Status Append(const v1::JournalRecord& r, bool durable)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rewrites the file from state_ (a new file renamed over the old one).
  absl::Status Compact() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Apply(const v1::JournalRecord& r, State& s);

  const std::string dir_;
  State recovered_;
  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_);
  State state_ ABSL_GUARDED_BY(mu_);
  // Finished session ids, oldest first (for pruning).
  std::vector<std::string> finished_ ABSL_GUARDED_BY(mu_);
  size_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vmig::daemon

#endif  // VMIGD_DAEMON_JOURNAL_H_
