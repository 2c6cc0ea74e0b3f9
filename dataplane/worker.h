// A worker lcore: owns one RX/TX queue pair and the streams handed to it.
// Its loop, in the manner of DPDK's examples: RX burst and frame handling,
// in-order delivery to destination devices, reads from source devices into
// mbufs, retransmission timers, TX through the fault injector. It spins
// while there is work and backs off to sleeping when idle.
#ifndef VMIGD_DATAPLANE_WORKER_H_
#define VMIGD_DATAPLANE_WORKER_H_

#include <atomic>
#include <deque>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "dataplane/aead.h"
#include "dataplane/counters.h"
#include "dataplane/fault_injector.h"
#include "dataplane/port.h"
#include "dataplane/stream.h"

struct rte_mbuf;
struct rte_ring;

namespace vmig::dataplane {

// The worker that owns a stream: both ends of a link assign streams this
// way, and a worker hands a frame for another worker's stream to it.
inline size_t WorkerFor(uint32_t stream_id, size_t workers) {
  return stream_id % workers;
}

class Worker {
 public:
  // `port_cap` (null: none) is the port's bandwidth cap, shared by its
  // workers.
  Worker(Port& port, uint16_t queue, const Endpoint& local,
         const FaultConfig& faults, WorkerCounters& counters,
         RateLimiter* port_cap = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Control thread, before any worker runs: every worker of the transport,
  // indexed by queue, so that frames can be handed to their stream's owner.
  void SetSiblings(std::vector<Worker*> siblings) {
    siblings_ = std::move(siblings);
  }
  // Control thread: hands a stream over (lock-free ring). False if full.
  bool Submit(Stream* stream);
  // Control thread: ask the loop to end; it releases what it holds.
  void Stop() { stop_.store(true, std::memory_order_release); }
  // The lcore's main function: RunOnce() until stopped, sleeping when idle,
  // then ReleaseAll().
  int Run();
  // One pass of the loop (RX burst, every stream served, TX flush); true if
  // it found work. For callers that drive the worker themselves
  // (benchmarks); not to be mixed with Run() on another thread.
  bool RunOnce();
  // Cancels the streams still held and frees every buffer held.
  void ReleaseAll();

 private:
  // FaultConfig::hang_worker_after_frames: sleeps until Stop().
  void HangUntilStopped();
  static constexpr int kBurst = 32;
  static constexpr size_t kStreamsReserved = 256;
  // A sender that has not heard its receiver for this long asks for an ack.
  static constexpr int64_t kKeepaliveNs = 250'000'000;
  static constexpr size_t kMaxBacklog =
      512;  // frames waiting for TX ring space

  // While a session in its switchover has data to send, streams in
  // pre-copy are served one pass in kPrecopyTurn: strict priority for the
  // downtime, with a floor that keeps pre-copy alive.
  static constexpr uint64_t kPrecopyTurn = 8;

  void TakeNewStreams(int64_t now);
  // Serves the streams of order_ that `urgent` selects (senders in their
  // switchover, or everything else). True if one found work; `*sent` is
  // set when a sender sent data.
  bool ServeStreams(bool urgent, bool skip_senders, int64_t now, bool* sent);
  // Moves the streams that sent data in this pass behind the others.
  void SendersToTheBack();
  bool PollRx(int64_t now);
  // The last receive burst came back full: more frames (acks among them)
  // wait in the queue, so no retransmission timer is judged yet (a worker
  // descheduled for a while must read the acks that came meanwhile before
  // it calls a frame lost).
  bool rx_full_ = false;
  // True if `m` belongs to another worker's stream and was handed to it (or
  // dropped, its ring full).
  bool HandOff(rte_mbuf* m);
  void HandleFrame(rte_mbuf* m, int64_t now);
  // Checks a parsed frame's credentials for its stream: the agreed
  // protection, then the token (kNone) or the replay window and tag (the
  // payload is decrypted in place). False: dropped and counted.
  bool Authenticate(StreamContext& s, const ParsedFrame& f, rte_mbuf* m);
  void Drop(rte_mbuf* m, ParseError why);
  // Fills in the vmigd header's protection fields, writes the headers and,
  // under an AEAD, seals the frame (its payload already in place).
  void EncodeFrame(StreamContext& s, WireHeader h, rte_mbuf* m,
                   uint32_t payload_len);
  bool ServeReceiver(StreamContext& s, int64_t now);
  // `*sent`: it put data frames (new or again) on the wire.
  bool ServeSender(StreamContext& s, int64_t now, bool* sent);
  void SendAck(StreamContext& s, int64_t now);
  void SendControl(StreamContext& s, FrameType type, const void* payload,
                   uint32_t len, int64_t now);
  // Builds headers for a data frame whose payload is already in `m`.
  void FinishDataFrame(StreamContext& s, rte_mbuf* m,
                       const SenderFlow::Frame& f, bool retransmit,
                       int64_t now);
  void Transmit(rte_mbuf* m, int64_t now);  // through the fault injector
  void Enqueue(rte_mbuf* m);
  void Flush(int64_t now);
  void Retire(StreamContext& s);
  void PublishStats(StreamContext& s);

  Port& port_;
  const uint16_t queue_;
  uint16_t rx_burst_ = kBurst;  // frames per RX burst: see the constructor
  const Endpoint local_;  // this host's MAC (the port's), IPv4 and UDP port
  FaultInjector faults_;
  AeadEngine aead_;  // this lcore's cipher
  WorkerCounters& counters_;
  RateLimiter* const port_cap_;
  rte_ring* inbox_ = nullptr;  // streams from the control thread
  // Frames other workers received for this worker's streams (any of them
  // may enqueue; only this worker dequeues).
  rte_ring* handoff_ = nullptr;
  std::vector<Worker*> siblings_;
  std::atomic<bool> stop_{false};
  // Set (release) as Run() returns, having released everything: the
  // destructor's acquire of it orders the worker thread's last writes
  // before the owner's reads, whatever joined the lcore (DPDK's wait is
  // invisible to TSan).
  std::atomic<bool> exited_{false};

  absl::flat_hash_map<uint64_t, StreamContext*> streams_;
  std::vector<StreamContext*> order_;  // round-robin service order
  // The base RTT of each peer this worker sends to, shared by the streams
  // that send there (they share its bottleneck): by peer address and port.
  // Reserved once (the worker allocates nothing after its start, and each
  // sender flow keeps a pointer into it); an entry is free again when its
  // last stream goes. Past kPathsReserved peers a flow keeps its own base.
  struct SharedPath {
    uint64_t key = 0;
    int flows = 0;
    PathBaseRtt base;
  };
  static constexpr size_t kPathsReserved = 64;
  std::vector<SharedPath> paths_;
  // The slot of the path `key` with one more flow on it (a free slot if
  // none has that key yet); -1 when every reserved slot is taken.
  int JoinPath(uint64_t key);
  std::vector<rte_mbuf*> tx_;

  // Frames the fault injector holds back (delayed or reordered), with the
  // time each may leave. Released in order; a short hold behind a long one
  // waits at most the long one's delay.
  std::deque<std::pair<int64_t, rte_mbuf*>> delayed_;
  int64_t last_publish_ns_ = 0;
  uint64_t loops_ = 0;
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_WORKER_H_
