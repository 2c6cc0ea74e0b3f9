#include "dataplane/ring_link.h"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <map>

#include "absl/strings/str_cat.h"

namespace vmig::dataplane {
namespace {

// Open links by pair name. Only ports opening and closing touch it (the
// control path); workers see the rings alone.
absl::Mutex g_links_mu(absl::kConstInit);
std::map<std::string, std::weak_ptr<RingLink>>& Links()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_links_mu) {
  static auto* links = new std::map<std::string, std::weak_ptr<RingLink>>();
  return *links;
}

void DrainAndFree(rte_ring* r) {
  void* m;
  while (rte_ring_dequeue(r, &m) == 0)
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  rte_ring_free(r);
}

}  // namespace

absl::StatusOr<std::shared_ptr<RingLink>> RingLink::Join(
    const std::string& pair, uint16_t queues, uint16_t ring_size) {
  // Declared before the lock: should the other side let go meanwhile, the
  // last reference (and the destructor, which takes the lock) drops after it.
  std::shared_ptr<RingLink> existing;
  absl::MutexLock lock(&g_links_mu);
  if (auto it = Links().find(pair);
      it != Links().end() && (existing = it->second.lock())) {
    if (existing->ab_.size() != queues) {
      return absl::InvalidArgumentError(
          absl::StrCat("ring pair ", pair, " has ", existing->ab_.size(),
                       " queues; this side asked for ", queues));
    }
    return existing;
  }
  std::vector<rte_ring*> ab, ba;
  for (uint16_t q = 0; q < queues; ++q) {
    // Single producer and consumer: queue q of a side belongs to one worker.
    for (auto* rings : {&ab, &ba}) {
      const std::string name =
          absl::StrCat(pair, rings == &ab ? "_ab" : "_ba", q);
      rte_ring* r = rte_ring_create(name.c_str(), ring_size, SOCKET_ID_ANY,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (!r) {
        const int err = rte_errno;
        for (rte_ring* made : ab) rte_ring_free(made);
        for (rte_ring* made : ba) rte_ring_free(made);
        return absl::UnavailableError(absl::StrCat(
            "ring pair ", pair, ": ring ", name, ": ", rte_strerror(err)));
      }
      rings->push_back(r);
    }
  }
  std::shared_ptr<RingLink> link(new RingLink());
  link->pair_ = pair;
  link->ab_ = std::move(ab);
  link->ba_ = std::move(ba);
  Links()[pair] = link;
  return link;
}

RingLink::~RingLink() {
  // Under the map's lock, so that a new link of the same pair (whose rings
  // take the same names) is made only once these are gone.
  absl::MutexLock links_lock(&g_links_mu);
  auto it = Links().find(pair_);
  if (it != Links().end() && it->second.expired()) Links().erase(it);
  // Frames still on the link go back to their pools before the pools go.
  for (rte_ring* r : ab_) DrainAndFree(r);
  for (rte_ring* r : ba_) DrainAndFree(r);
  absl::MutexLock lock(&mu_);
  for (rte_mempool* p : pools_) rte_mempool_free(p);
}

std::vector<rte_ring*> RingLink::TxRings(bool side_a) const {
  return side_a ? ab_ : ba_;
}

std::vector<rte_ring*> RingLink::RxRings(bool side_a) const {
  return side_a ? ba_ : ab_;
}

void RingLink::Adopt(rte_mempool* pool) {
  absl::MutexLock lock(&mu_);
  pools_.push_back(pool);
}

}  // namespace vmig::dataplane
