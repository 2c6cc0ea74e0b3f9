#include "dataplane/transport.h"

#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "dataplane/memif_socket.h"

namespace vmig::dataplane {
namespace {

int WorkerMain(void* arg) { return static_cast<Worker*>(arg)->Run(); }

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> Transport::Start(
    const TransportConfig& config) {
  std::unique_ptr<Transport> t(new Transport());
  t->config_ = config;
  t->port_cap_.SetRate(config.max_rate);
  t->config_.port.queues = static_cast<uint16_t>(config.worker_lcores.size());
  for (unsigned lcore : config.worker_lcores) {
    if (!rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "worker lcore ", lcore, " is not an enabled worker lcore"));
    }
    t->counters_.push_back(std::make_unique<WorkerCounters>());
  }
  if (config.dial_later && t->IsMemifClient() &&
      !MemifSocketServed(t->config_.port.args)) {
    // The server (the peer daemon) is not up yet: start without the port,
    // link down; the first Reconnect() dials it.
    t->local_ = config.local;
    return t;
  }
  absl::StatusOr<std::unique_ptr<Port>> port = Port::Open(t->config_.port);
  if (!port.ok()) return port.status();
  {
    absl::MutexLock lock(&t->port_mu_);
    t->port_ = std::move(*port);
  }
  absl::WriterMutexLock lock(&t->workers_mu_);
  if (absl::Status s = t->LaunchWorkers(); !s.ok()) return s;
  return t;
}

absl::Status Transport::LaunchWorkers() {
  std::shared_ptr<Port> port = this->port();
  if (!port) return absl::UnavailableError("no port to run workers on");
  local_ = config_.local;
  local_.mac = port->mac();
  std::vector<Worker*> siblings;
  for (uint16_t q = 0; q < port->queues(); ++q) {
    FaultConfig faults = config_.faults;
    faults.seed += q;
    workers_.push_back(std::make_unique<Worker>(*port, q, local_, faults,
                                                *counters_[q], &port_cap_));
    siblings.push_back(workers_.back().get());
  }
  // Every worker knows the others before any runs: a frame may arrive on
  // any queue.
  for (auto& w : workers_) w->SetSiblings(siblings);
  for (uint16_t q = 0; q < workers_.size(); ++q) {
    const unsigned lcore = config_.worker_lcores[q];
    if (rte_eal_remote_launch(WorkerMain, workers_[q].get(), lcore) != 0) {
      // Shutdown() stops and waits for those launched before any worker
      // (which siblings may hand frames to) is destroyed.
      return absl::UnavailableError(
          absl::StrCat("cannot launch a worker on lcore ", lcore));
    }
    lcores_.push_back(lcore);
  }
  return absl::OkStatus();
}

void Transport::StopWorkers() {
  for (auto& w : workers_) w->Stop();
  for (unsigned lcore : lcores_) rte_eal_wait_lcore(lcore);
  lcores_.clear();
  workers_.clear();
}

Transport::~Transport() { Shutdown(); }

void Transport::Shutdown() {
  absl::WriterMutexLock lock(&workers_mu_);
  StopWorkers();
  if (std::shared_ptr<Port> p = port()) p->Close();
}

std::shared_ptr<Port> Transport::port() const {
  absl::MutexLock lock(&port_mu_);
  return port_;
}

bool Transport::LinkUp() const {
  std::shared_ptr<Port> p = port();
  return p && p->LinkUp();
}

absl::Status Transport::WaitLinkUp(absl::Duration timeout) {
  std::shared_ptr<Port> p = port();
  if (!p) return absl::UnavailableError("the port is being reopened");
  return p->WaitLinkUp(timeout);
}

bool Transport::IsMemifClient() const {
  return config_.port.kind == PortConfig::Kind::kMemif &&
         MemifRoleIsClient(config_.port.args);
}

bool Transport::CanReconnect() const { return IsMemifClient(); }

absl::Status Transport::Reconnect() {
  if (!CanReconnect())
    return absl::FailedPreconditionError("not a memif client port");
  // Dial only a socket that is served: a failed start would leave a half
  // made device behind.
  if (!MemifSocketServed(config_.port.args)) {
    return absl::UnavailableError(
        absl::StrCat("nobody serves memif socket ",
                     MemifSocketPath(config_.port.args), " yet"));
  }
  absl::WriterMutexLock lock(&workers_mu_);
  StopWorkers();
  {
    std::shared_ptr<Port> old;
    {
      absl::MutexLock plock(&port_mu_);
      old = std::move(port_);
    }
    // Gone before the new one is made: its pool's memory is what the new
    // pool needs.
    if (old) old->Close();
  }
  absl::StatusOr<std::unique_ptr<Port>> fresh = Port::Open(config_.port);
  if (!fresh.ok()) return fresh.status();  // no port: the next try opens one
  {
    absl::MutexLock plock(&port_mu_);
    port_ = std::move(*fresh);
  }
  return LaunchWorkers();
}

CounterSnapshot Transport::counters() const {
  std::vector<const WorkerCounters*> all;
  for (const auto& c : counters_) all.push_back(c.get());
  return CounterSnapshot::Sum(all);
}

Transport::Rates Transport::SampleRates() {
  const CounterSnapshot c = counters();
  const int64_t now = MonotonicNanos();
  absl::MutexLock lock(&rates_mu_);
  const int64_t dt = now - rates_at_ns_;
  if (rates_at_ns_ != 0 && dt < 100'000'000) return rates_;
  if (rates_at_ns_ != 0) {
    rates_.tx_bytes_per_second =
        static_cast<double>(c[kTxBytes] - rates_tx_) * 1e9 / dt;
    rates_.rx_bytes_per_second =
        static_cast<double>(c[kRxBytes] - rates_rx_) * 1e9 / dt;
  }
  rates_at_ns_ = now;
  rates_tx_ = c[kTxBytes];
  rates_rx_ = c[kRxBytes];
  return rates_;
}

std::vector<CounterSnapshot> Transport::worker_counters() const {
  std::vector<CounterSnapshot> each;
  for (const auto& c : counters_)
    each.push_back(CounterSnapshot::Sum({c.get()}));
  return each;
}

unsigned Transport::MbufsInUse() const {
  std::shared_ptr<Port> p = port();
  return p ? rte_mempool_in_use_count(p->pool()) : 0;
}

unsigned Transport::MbufsLeaked() const {
  std::shared_ptr<Port> p = port();
  const unsigned in_use = MbufsInUse(), pmd = p ? p->posted_rx_capacity() : 0;
  return in_use > pmd ? in_use - pmd : 0;
}

absl::StatusOr<std::shared_ptr<Stream>> Transport::AddStream(
    const StreamSpec& spec) {
  if (spec.data == nullptr)
    return absl::InvalidArgumentError("stream without a data session");
  if (spec.role == StreamRole::kSend && spec.peer.ipv4 == 0) {
    return absl::InvalidArgumentError("a send stream needs the peer's address");
  }
  if (spec.role == StreamRole::kReceive && spec.peer.udp_port == 0) {
    // Acks go to the sender's listening port, which its frames do not carry
    // (their source port varies per flow).
    return absl::InvalidArgumentError(
        "a receive stream needs the sender's listening UDP port");
  }
  Reap();
  // No reconnect swaps the workers while a stream is handed over.
  absl::ReaderMutexLock workers(&workers_mu_);
  if (workers_.empty())
    return absl::UnavailableError("the data plane's workers are not running");
  StreamSpec full = spec;
  if (!full.flow) full.flow = config_.flow;
  absl::StatusOr<std::shared_ptr<Stream>> made = Stream::Create(full);
  if (!made.ok()) return made.status();
  std::shared_ptr<Stream> s = std::move(*made);
  {
    absl::MutexLock lock(&mu_);
    uint64_t buffered = 0;
    for (const auto& o : streams_) {
      if (o->key() == s->key() && !o->released()) {
        return absl::AlreadyExistsError(
            absl::StrCat("stream ", spec.stream_id, " of session ",
                         spec.session_id, " is already running"));
      }
      if (o->spec().role == StreamRole::kReceive && !o->released())
        buffered += o->spec().flow->window_bytes;
    }
    if (spec.role == StreamRole::kReceive &&
        buffered + full.flow->window_bytes > config_.max_receive_buffer_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the data plane's receive buffers are at their limit (",
                       config_.max_receive_buffer_bytes,
                       " bytes, limits.max_memory_bytes): ", buffered,
                       " bytes of windows are in use"));
    }
    streams_.push_back(s);
  }
  Worker& w = *workers_[WorkerFor(spec.stream_id, workers_.size())];
  if (!w.Submit(s.get())) {
    absl::MutexLock lock(&mu_);
    // Another session may have added a stream since: remove this one.
    streams_.erase(std::find(streams_.begin(), streams_.end(), s));
    return absl::ResourceExhaustedError("the worker's stream ring is full");
  }
  // Return once the worker runs the stream, so that a peer told "ready"
  // afterwards never finds it missing (a sleeping worker takes up to 1 ms).
  // Woken when it does, not polled.
  if (!s->WaitTaken(absl::Seconds(5))) {
    s->Cancel();
    // Taken just now: the worker may be serving it already, and the caller
    // frees the data session on this error, so wait until the worker has
    // seen the flag. Still pending: it will see the flag before it serves
    // the stream (both sequentially consistent), and never touches the
    // data session.
    if (s->state() != Stream::kPending) (void)s->Wait(absl::Seconds(5));
    return absl::DeadlineExceededError(
        "the worker did not take the stream within 5s");
  }
  return s;
}

void Transport::Reap() {
  absl::MutexLock lock(&mu_);
  // A stream goes once its worker released it and nobody else holds it.
  streams_.erase(std::remove_if(streams_.begin(), streams_.end(),
                                [](const std::shared_ptr<Stream>& s) {
                                  return s->released() && s.use_count() == 1;
                                }),
                 streams_.end());
}

std::vector<std::shared_ptr<Stream>> Transport::Streams() {
  Reap();
  absl::MutexLock lock(&mu_);
  return streams_;
}

}  // namespace vmig::dataplane
