// A device stream in the data plane: created by the control thread, handed
// to a worker lcore through a ring, run by that worker. The two sides are
// two types: the Stream handle (control) and its StreamContext (worker).
#ifndef VMIGD_DATAPLANE_STREAM_H_
#define VMIGD_DATAPLANE_STREAM_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dataplane/aead.h"
#include "dataplane/flow.h"
#include "dataplane/rate_limiter.h"
#include "dataplane/replay_window.h"
#include "dataplane/wire.h"
#include "vfio/device.h"

namespace vmig::dataplane {

enum class StreamRole { kSend, kReceive };

struct StreamSpec {
  StreamRole role = StreamRole::kSend;
  uint32_t session_id = 0;
  uint32_t stream_id = 0;
  // How the session's frames are protected. kAes256Gcm: this side's keys
  // (send_key seals what this end sends, receive_key opens what it
  // receives), agreed for the session over the peer channel; Create()
  // expands them and wipes these copies. kNone: the token every frame
  // carries.
  Protection protection = Protection::kAes256Gcm;
  AeadKeyBytes send_key{};
  AeadKeyBytes receive_key{};
  uint64_t session_token = 0;
  // kSend: read until end of stream; kReceive: written in order. Must
  // outlive the stream.
  vfio::DataSession* data = nullptr;
  Endpoint peer;  // kSend: where to send; kReceive: where acks go (the
                  // sender's listening udp_port is required; ipv4 and MAC
                  // are learned from the first frame if ipv4 is 0)
  // Unset: the transport's (dataplane.credit_window_bytes and defaults).
  std::optional<FlowConfig> flow;
  // kSend: the session's bandwidth cap, shared by its streams (null: none).
  // The port's cap (dataplane.ports.max_rate) applies as well.
  std::shared_ptr<RateLimiter> cap;
};

struct StreamStats {
  SenderStats sender;
  ReceiverStats receiver;
  uint64_t device_bytes =
      0;  // read from (send) or written to (receive) the device
  uint32_t caught_up =
      0;  // kSend: reads that found pre-copy caught up after data
  int64_t started_ns = 0, finished_ns = 0;
  // kReceive: bytes written, and time spent, while the device pushed back
  // (its write rate is what limits then); 0 if it never did.
  uint64_t write_bound_bytes = 0;
  int64_t write_bound_ns = 0;
  // kSend: passes in which a cap (the session's or the port's) held data
  // back.
  uint64_t cap_waits = 0;
  // kSend: CLOCK_MONOTONIC ns of the last authentic ack from the receiver
  // (or of the stream's start). An idle stream asks for one every 250 ms,
  // so a running stream that has not heard its receiver for long has lost
  // its data path.
  int64_t heard_ns = 0;
};

class Stream;

// The worker-owned side of a stream: its flow, where its frames go, and
// its progress. Only the worker that runs the stream touches it; the
// control side sees the stream through its Stream handle (state, cancel,
// published stats), never through this.
struct StreamContext {
  explicit StreamContext(Stream& h) : handle(h) {}
  Stream& handle;
  std::unique_ptr<SenderFlow> sender;
  std::unique_ptr<ReceiverFlow> receiver;
  Endpoint peer;
  // kSend: the worker's slot of the path to the peer whose base RTT the
  // flow shares, -1 if none.
  int path_slot = -1;
  // kSend: the session's cap (spec.cap), null when it has none.
  RateLimiter* cap = nullptr;
  // kSend: it sent data in the worker's current pass (service order).
  bool sent_this_pass = false;
  // kSend: when the receiver was last heard (an authentic ack), and when
  // this end last asked it to speak (a keepalive kAckRequest).
  int64_t heard_ns = 0, keepalive_ns = 0;
  // kAes256Gcm: the expanded keys, this end's next packet number, and the
  // replay window of what it received.
  std::unique_ptr<AeadKey> send_key, receive_key;
  uint64_t next_packet_number = 1;
  ReplayWindow replay;
  uint64_t device_bytes = 0;
  // What the next ack echoes (AckPayload::echo_timestamp), and whether it
  // is the timestamp of the frame that filled the hole at next_seq.
  uint64_t echo_timestamp = 0;
  bool echo_advanced = false;
  bool ack_requested = false;  // a kAckRequest came since the last ack
  bool ack_pending = false;
  bool source_drained = false;  // kSend: end of stream read from the device
  bool read_since_caught_up = false;
  uint32_t caught_up = 0;
  int64_t started_ns = 0, finished_ns = 0, linger_until_ns = 0;
  int closes_sent = 0;
  // kReceive: since when the device has pushed back (0: it took all).
  int64_t pushback_since_ns = 0;
  uint64_t write_bound_bytes = 0;
  int64_t write_bound_ns = 0;
  uint64_t cap_waits = 0;
};

// The control side's handle of a stream: its spec, state and cancel flag
// (atomics), its error and the stats the worker publishes (under a mutex
// the worker takes only every 10 ms and at the end).
class Stream {
 public:
  enum State : int { kPending, kRunning, kDone, kFailed, kCancelled };

  explicit Stream(const StreamSpec& spec)
      : spec_(WithoutKeys(spec)),
        context_(std::make_unique<StreamContext>(*this)) {}
  // A stream ready for a worker to take over: its flow made (from
  // spec.flow, or FlowConfig's defaults) and its data session made
  // non-blocking, so that the worker never allocates or blocks for it.
  static absl::StatusOr<std::shared_ptr<Stream>> Create(StreamSpec spec);

  const StreamSpec& spec() const { return spec_; }
  uint64_t key() const { return Key(spec_.session_id, spec_.stream_id); }
  static uint64_t Key(uint32_t session, uint32_t stream) {
    return uint64_t{session} << 32 | stream;
  }

  State state() const {
    return static_cast<State>(state_.load(std::memory_order_seq_cst));
  }
  bool finished() const { return state() >= kDone; }
  // Why it failed (valid once state() is kFailed).
  absl::Status error() const;
  // Waits until finished or the timeout passes; returns the final status.
  absl::Status Wait(absl::Duration timeout) const;
  // Waits until a worker has taken the stream (it is no longer kPending),
  // asleep on the state word until MarkRunning() wakes it. False when
  // `timeout` passed first.
  bool WaitTaken(absl::Duration timeout) const;
  StreamStats Stats() const;
  // Asks the worker to stop; it releases the stream's buffers.
  // Sequentially consistent with MarkRunning() and cancel_requested(): a
  // canceller that then reads kPending knows the worker will see the flag
  // before it serves the stream (Transport::AddStream relies on it).
  void Cancel() { cancel_.store(true, std::memory_order_seq_cst); }
  // Cancels the stream unless it has finished and waits up to `timeout` for
  // the worker to be done with it. True: the worker no longer touches the
  // stream's data session, which the caller may destroy. False: the worker
  // stalled, and `*data` (the stream's data session, if given) moves into
  // the stream, which lives until its worker has released it, so that the
  // worker never touches a freed session.
  bool CancelAndWait(absl::Duration timeout,
                     std::unique_ptr<vfio::DataSession>* data = nullptr);
  // The worker has dropped every reference: the stream may be destroyed.
  bool released() const { return released_.load(std::memory_order_acquire); }

  // --- Worker side. ---
  void Finish(State s, absl::Status why = absl::OkStatus());
  void Publish(const StreamStats& stats);
  bool cancel_requested() const {
    return cancel_.load(std::memory_order_seq_cst);
  }
  void MarkReleased() { released_.store(true, std::memory_order_release); }
  // The worker took the stream; wakes WaitTaken() with a futex wake (a
  // syscall only, once per stream: no lock, no allocation).
  void MarkRunning();
  // kSend: the session is in its switchover (its downtime runs): its
  // worker serves it before streams in pre-copy. Any thread sets it.
  void SetUrgent(bool urgent) {
    urgent_.store(urgent, std::memory_order_relaxed);
  }
  bool urgent() const { return urgent_.load(std::memory_order_relaxed); }

  // What the worker runs: made here, handed over by Worker::Submit, and
  // from then on the worker's alone until it marks the stream released.
  StreamContext& context() { return *context_; }

 private:
  static StreamSpec WithoutKeys(StreamSpec spec) {
    spec.send_key.fill(0);
    spec.receive_key.fill(0);
    return spec;
  }

  const StreamSpec spec_;  // its keys wiped: the context holds them
  std::unique_ptr<StreamContext> context_;
  std::atomic<int> state_{kPending};
  std::atomic<bool> cancel_{false};
  std::atomic<bool> released_{false};
  std::atomic<bool> urgent_{false};
  mutable absl::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  StreamStats stats_ ABSL_GUARDED_BY(mu_);
  // A data session handed over while the worker still had the stream.
  std::unique_ptr<vfio::DataSession> kept_data_ ABSL_GUARDED_BY(mu_);
  mutable absl::CondVar done_;
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_STREAM_H_
