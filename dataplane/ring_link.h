// The in-process link behind a kRing port: one rte_ring per direction and
// queue, shared by the two sides that name the same pair. Either side may
// open first and either may close first: the rings, the frames on them and
// both sides' mbuf pools live until the last side lets go, because a side's
// mbufs travel by pointer to the other (the peer's worker may still hold or
// poll them after this side closed).
#ifndef VMIGD_DATAPLANE_RING_LINK_H_
#define VMIGD_DATAPLANE_RING_LINK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct rte_mempool;
struct rte_ring;

namespace vmig::dataplane {

class RingLink {
 public:
  // The pair's link, made on first use with `queues` rings each way of
  // `ring_size` slots. A second side must ask for the same queue count.
  static absl::StatusOr<std::shared_ptr<RingLink>> Join(const std::string& pair,
                                                        uint16_t queues,
                                                        uint16_t ring_size);
  ~RingLink();
  RingLink(const RingLink&) = delete;
  RingLink& operator=(const RingLink&) = delete;

  // Side "a" transmits on the a->b rings and receives on the b->a ones.
  std::vector<rte_ring*> TxRings(bool side_a) const;
  std::vector<rte_ring*> RxRings(bool side_a) const;
  // A closing side leaves its pool here: frames from it may still be on
  // the rings or in the other side's hands.
  void Adopt(rte_mempool* pool);

 private:
  RingLink() = default;
  std::string pair_;
  std::vector<rte_ring*> ab_, ba_;
  absl::Mutex mu_;
  std::vector<rte_mempool*> pools_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_RING_LINK_H_
