// An in-process migration rig for the daemon's unit tests: two data planes
// joined by a ring port (DPDK in this process, no daemon processes), a
// device registry holding emulated source and destination devices, a
// DestinationSession for the incoming side, and a fake peer client that
// forwards the source engine's calls to it, or fails them on request.
#ifndef VMIGD_TESTS_DAEMON_ENGINE_FIXTURE_H_
#define VMIGD_TESTS_DAEMON_ENGINE_FIXTURE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "daemon/destination/destination_session.h"
#include "daemon/device_registry.h"
#include "daemon/peer_client.h"
#include "daemon/session_record.h"
#include "daemon/source/source_engine.h"
#include "dataplane/transport.h"
#include "gtest/gtest.h"

namespace vmig::daemon::testing {

// How much slower than a plain build this one runs: ThreadSanitizer's
// builds run the data plane several times slower, so the rig's liveness
// bound and default budget grow with it (a test that asks for a budget of
// its own keeps it).
#if defined(VMIG_TSAN)
inline constexpr int kSlowdown = 10;
#else
inline constexpr int kSlowdown = 1;
#endif
// The budget grows more than the slowdown: a loaded CI machine's TSan build
// measured a link probe of 1.2 MiB/s, which puts a 2 MiB device's bound
// near 4 s.
inline constexpr int kDefaultBudgetMs = kSlowdown > 1 ? 10000 : 300;
inline constexpr int kLivenessMs = 600 * kSlowdown;  // the fake peer's

// Forwards to a DestinationSession; a call whose hook returns an error
// fails with it instead (before it reaches the destination).
class FakePeerClient final : public PeerClient {
 public:
  struct Hooks {
    std::function<absl::Status()> handshake, switchover_ack, commit, abort,
        heartbeat;
    // Runs after the destination has answered a commit: an error here is
    // an answer lost on its way back.
    std::function<absl::Status()> commit_answer;
    // Changes the destination's handshake answer on its way back (a
    // destination that lies, or an attacker on the peer channel).
    std::function<void(v1::HandshakeResponse&)> handshake_answer;
    std::atomic<int> aborts{0};
    std::atomic<int> heartbeats{0};
    std::atomic<int> cancels{0};
    // The first device's initial_data_offsets of every switchover-ack.
    absl::Mutex mu;
    std::vector<uint64_t> ack_offsets ABSL_GUARDED_BY(mu);
  };
  FakePeerClient(DestinationSession* dest, Hooks* hooks)
      : dest_(dest), hooks_(hooks) {}

  absl::StatusOr<v1::HandshakeResponse> Handshake(
      const v1::HandshakeRequest& req) override {
    if (absl::Status s = Run(hooks_->handshake); !s.ok()) return s;
    absl::StatusOr<v1::HandshakeResponse> r = dest_->Handshake(req);
    if (r.ok() && hooks_->handshake_answer) hooks_->handshake_answer(*r);
    return r;
  }
  absl::StatusOr<v1::SwitchoverAckResponse> SwitchoverAck(
      const v1::SwitchoverAckRequest& req) override {
    if (absl::Status s = Run(hooks_->switchover_ack); !s.ok()) return s;
    {
      absl::MutexLock lock(&hooks_->mu);
      hooks_->ack_offsets.push_back(req.initial_data_offsets(0));
    }
    return dest_->SwitchoverAck(req);
  }
  absl::StatusOr<v1::CommitResponse> Commit(
      const v1::CommitRequest& req) override {
    if (absl::Status s = Run(hooks_->commit); !s.ok()) return s;
    absl::StatusOr<v1::CommitResponse> r = dest_->Commit(req);
    if (absl::Status s = Run(hooks_->commit_answer); !s.ok()) return s;
    return r;
  }
  absl::StatusOr<v1::AbortResponse> Abort(
      const v1::AbortRequest& req) override {
    ++hooks_->aborts;
    if (absl::Status s = Run(hooks_->abort); !s.ok()) return s;
    return dest_->Abort(req);
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest&) override {
    ++hooks_->heartbeats;
    if (absl::Status s = Run(hooks_->heartbeat); !s.ok()) return s;
    return dest_->Heartbeat();
  }
  absl::Status Report(const v1::ReportRequest& req) override {
    return dest_->Report(req);
  }
  PeerDeadlines deadlines() const override {
    PeerDeadlines d;
    d.heartbeat_interval = absl::Milliseconds(50);
    d.liveness = absl::Milliseconds(kLivenessMs);
    return d;
  }
  void CancelPending() override { ++hooks_->cancels; }

 private:
  static absl::Status Run(const std::function<absl::Status()>& f) {
    return f ? f() : absl::OkStatus();
  }
  DestinationSession* const dest_;
  Hooks* const hooks_;
};

// A clock whose every sleep advances it by `step` while really sleeping
// only `real` (so the data plane still moves): seconds of engine time pass
// in milliseconds.
class SteppingClock final : public Clock {
 public:
  SteppingClock(absl::Duration step, absl::Duration real)
      : step_(step), real_(real) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void SleepFor(absl::Duration) override {
    absl::SleepFor(real_);
    absl::MutexLock lock(&mu_);
    now_ += step_;
  }

 private:
  const absl::Duration step_, real_;
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::UnixEpoch();
};

// Counts the events the rig's two sides tell (DaemonEvents), by kind.
class CountedEvents final : public DaemonEvents {
 public:
  void PhaseChanged(v1::Phase, const v1::Session&) override {}
  void PeerSilent(v1::Role role) override {
    (role == v1::ROLE_SOURCE ? silent_destinations : silent_sources)++;
  }
  void PeerCallFailed(const std::string&, const std::string&) override {}
  // The source found its destination silent; the destination its source.
  std::atomic<int> silent_destinations{0}, silent_sources{0};
};

class EngineRig : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  void SetUp() override;
  void TearDown() override;

  // Attaches "s<i>" (spec) and "d<i>" (dest_spec, or a copy of spec's size)
  // for each spec.
  void AddDevices(const std::vector<std::string>& specs,
                  const std::vector<std::string>& dest_specs = {});
  // Runs a session to its end on this thread and returns the final record.
  v1::Session Migrate(v1::StartMigrationRequest req,
                      const std::function<void(SessionRecord&)>& during = {},
                      Clock& clock = Clock::Real());
  v1::StartMigrationRequest Request(int budget_ms = kDefaultBudgetMs) const;
  uint64_t Digest(const std::string& id);
  vfio::DeviceState State(const std::string& id);

  // Set before EngineRig::SetUp() to change the destination's data plane.
  uint64_t dst_window_bytes_ = 8 << 20;
  uint64_t dst_max_receive_bytes_ = 1ull << 30;
  // Each side's dataplane.cipher.
  dataplane::Protection src_protection_ = dataplane::Protection::kAes256Gcm;
  dataplane::Protection dst_protection_ = dataplane::Protection::kAes256Gcm;
  std::unique_ptr<dataplane::Transport> src_tp_, dst_tp_;
  std::unique_ptr<DeviceRegistry> registry_;
  std::vector<std::string> src_ids_, dst_ids_;
  FakePeerClient::Hooks hooks_;
  std::shared_ptr<SessionRecord> dest_record_;
  // While Migrate runs: its two sides (for a test's `during`).
  std::atomic<SourceEngine*> engine_{nullptr};
  std::atomic<DestinationSession*> dest_{nullptr};
  MeasureHistory history_;
  CountedEvents events_;  // what both sides of Migrate told
};

}  // namespace vmig::daemon::testing

#endif  // VMIGD_TESTS_DAEMON_ENGINE_FIXTURE_H_
