// The data plane of one daemon: a port, worker lcores with a queue pair
// each, and the device streams they carry. The control thread adds streams
// and watches them; workers own them while they run.
#ifndef VMIGD_DATAPLANE_TRANSPORT_H_
#define VMIGD_DATAPLANE_TRANSPORT_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/counters.h"
#include "dataplane/fault_injector.h"
#include "dataplane/port.h"
#include "dataplane/stream.h"
#include "dataplane/worker.h"

namespace vmig::dataplane {

struct TransportConfig {
  PortConfig port;
  Endpoint local;  // ipv4 and udp_port; the MAC is the port's
  // Worker lcores, one per queue pair (EAL must have been given them).
  std::vector<unsigned> worker_lcores = {1};
  FaultConfig faults;
  // Each stream's flow settings unless its spec names its own; the receive
  // window is dataplane.credit_window_bytes.
  FlowConfig flow;
  // The protection this daemon asks of its sessions (dataplane.cipher);
  // each session's streams carry the one its handshake agreed.
  Protection protection = Protection::kAes256Gcm;
  // The most the receive streams may buffer together (the sum of their
  // windows); a stream past it is refused (limits.max_memory_bytes).
  uint64_t max_receive_buffer_bytes = 1ull << 30;
  // The port's bandwidth cap, bytes/s on the wire (dataplane.ports.max_rate;
  // 0: none): every worker's data frames, all sessions, retransmissions
  // included. Acks and control frames are not held back.
  uint64_t max_rate = 0;
  // A memif client whose server is not up yet starts without its port
  // (link down) instead of failing; Reconnect() dials it later (the
  // daemon's LinkMonitor does).
  bool dial_later = false;
};

class Transport {
 public:
  // Opens the port and launches the workers. EAL must be initialized.
  static absl::StatusOr<std::unique_ptr<Transport>> Start(
      const TransportConfig& config);
  // Stops the workers (cancelling what still runs) and closes the port.
  ~Transport();

  absl::Status WaitLinkUp(absl::Duration timeout);
  bool LinkUp() const;
  // Whether the link comes back only when this side dials again (a memif
  // client whose server restarted), which Reconnect() does. With
  // dial_later, a memif client whose server was not up at start dials once
  // it serves.
  bool CanReconnect() const;
  bool IsMemifClient() const;
  // Replaces the port with a fresh one that dials the peer anew (DPDK
  // 22.11's memif cannot redial a disconnected device in place: its error
  // path closes descriptors it no longer owns). The workers stop, cancelling
  // their streams (whose peer is gone anyway), and start again on the new
  // port. UNAVAILABLE, changing nothing, while nobody serves the socket.
  // A zero-copy client redials zero-copy: the descriptors of EAL's memory
  // that DPDK 22.11's memif closes on a disconnect stay open
  // (ProtectEalMemoryFds), so its shared pool can be set up again.
  absl::Status Reconnect();
  // Hands a stream to the worker of its stream id and returns once the
  // worker runs it. The returned handle stays valid while the caller holds it.
  absl::StatusOr<std::shared_ptr<Stream>> AddStream(const StreamSpec& spec);
  // Every worker's counters, added up now.
  CounterSnapshot counters() const;
  // The port's cap (config().max_rate), which the workers share.
  const RateLimiter& port_cap() const { return port_cap_; }
  // Bytes/s sent and received since the previous call at least 100 ms
  // ago (0 on the first); a call sooner returns the previous figures.
  struct Rates {
    double tx_bytes_per_second = 0, rx_bytes_per_second = 0;
  };
  Rates SampleRates();
  // Each worker's, apart (index = worker, as in config().worker_lcores).
  std::vector<CounterSnapshot> worker_counters() const;
  // The port now (Reconnect() may replace it; the old one lives on while
  // a caller holds it). Null while a reconnect could not open a new one.
  std::shared_ptr<Port> port() const;
  const Endpoint& local() const { return local_; }
  // As started (the port's name, kind and arguments; the worker lcores).
  const TransportConfig& config() const { return config_; }
  // Stops the workers (they cancel and release every stream they hold) and
  // closes the port (the PMD gives back its posted buffers).
  void Shutdown();
  // Mbufs not back in the pool, and how many of those the PMD may
  // legitimately keep after Shutdown(); more than that is a leak.
  unsigned MbufsInUse() const;
  unsigned MbufsLeaked() const;
  // Every stream not yet reaped (for status and telemetry).
  std::vector<std::shared_ptr<Stream>> Streams();

 private:
  Transport() = default;
  void Reap();
  // Makes a worker per queue of port_ and launches them on their lcores.
  absl::Status LaunchWorkers();
  void StopWorkers();

  TransportConfig config_;
  // Replaced only under workers_mu_'s writer lock (with the workers
  // stopped); read under port_mu_.
  mutable absl::Mutex port_mu_;
  std::shared_ptr<Port> port_ ABSL_GUARDED_BY(port_mu_);
  Endpoint local_;
  // One block per worker, apart (each on its own cache lines).
  std::vector<std::unique_ptr<WorkerCounters>> counters_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<unsigned> lcores_;
  RateLimiter port_cap_;
  absl::Mutex rates_mu_;
  int64_t rates_at_ns_ ABSL_GUARDED_BY(rates_mu_) = 0;
  uint64_t rates_tx_ ABSL_GUARDED_BY(rates_mu_) = 0;
  uint64_t rates_rx_ ABSL_GUARDED_BY(rates_mu_) = 0;
  Rates rates_ ABSL_GUARDED_BY(rates_mu_);
  absl::Mutex mu_;
  std::vector<std::shared_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  // Readers: calls that hand streams to workers; the writer: Reconnect.
  absl::Mutex workers_mu_;
};

// Registers DPDK telemetry commands (/vmigd/port, /vmigd/streams) that read
// `transports` (replacing any earlier ones; empty: nothing to report).
void ExposeTelemetry(std::vector<Transport*> transports);

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_TRANSPORT_H_
