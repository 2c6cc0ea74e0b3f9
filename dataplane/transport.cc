#include "dataplane/transport.h"

#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace vmig::dataplane {
namespace {

int WorkerMain(void* arg) { return static_cast<Worker*>(arg)->Run(); }

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> Transport::Start(
    const TransportConfig& config) {
  std::unique_ptr<Transport> t(new Transport());
  t->config_ = config;
  PortConfig pc = config.port;
  pc.queues = static_cast<uint16_t>(config.worker_lcores.size());
  absl::StatusOr<std::unique_ptr<Port>> port = Port::Open(pc);
  if (!port.ok()) return port.status();
  t->port_ = std::move(*port);
  t->local_ = config.local;
  t->local_.mac = t->port_->mac();
  std::vector<Worker*> siblings;
  for (uint16_t q = 0; q < t->port_->queues(); ++q) {
    const unsigned lcore = config.worker_lcores[q];
    if (!rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "worker lcore ", lcore, " is not an enabled worker lcore"));
    }
    FaultConfig faults = config.faults;
    faults.seed += q;
    t->counters_.push_back(std::make_unique<WorkerCounters>());
    t->workers_.push_back(std::make_unique<Worker>(
        *t->port_, q, t->local_, faults, *t->counters_.back()));
    siblings.push_back(t->workers_.back().get());
  }
  // Every worker knows the others before any runs: a frame may arrive on
  // any queue.
  for (auto& w : t->workers_) w->SetSiblings(siblings);
  for (uint16_t q = 0; q < t->workers_.size(); ++q) {
    const unsigned lcore = config.worker_lcores[q];
    if (rte_eal_remote_launch(WorkerMain, t->workers_[q].get(), lcore) != 0) {
      // The transport's destructor stops and waits for those launched
      // before any worker (which siblings may hand frames to) is destroyed.
      return absl::UnavailableError(
          absl::StrCat("cannot launch a worker on lcore ", lcore));
    }
    t->lcores_.push_back(lcore);
  }
  return t;
}

Transport::~Transport() { Shutdown(); }

void Transport::Shutdown() {
  for (auto& w : workers_) w->Stop();
  for (unsigned lcore : lcores_) rte_eal_wait_lcore(lcore);
  lcores_.clear();
  workers_.clear();
  if (port_) port_->Close();
}

CounterSnapshot Transport::counters() const {
  std::vector<const WorkerCounters*> all;
  for (const auto& c : counters_) all.push_back(c.get());
  return CounterSnapshot::Sum(all);
}

unsigned Transport::MbufsInUse() const {
  return rte_mempool_in_use_count(port_->pool());
}

unsigned Transport::MbufsLeaked() const {
  const unsigned in_use = MbufsInUse(), pmd = port_->posted_rx_capacity();
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
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (s->state() == Stream::kPending) {
    if (absl::Now() > deadline) {
      s->Cancel();
      return absl::DeadlineExceededError(
          "the worker did not take the stream within 5s");
    }
    absl::SleepFor(absl::Microseconds(20));
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
