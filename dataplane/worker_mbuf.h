// Small helpers the worker's send and receive sides share (internal to the
// data plane).
#ifndef VMIGD_DATAPLANE_WORKER_MBUF_H_
#define VMIGD_DATAPLANE_WORKER_MBUF_H_

#include <rte_mbuf.h>

#include <cstdint>

namespace vmig::dataplane {

// Where a frame (Ethernet header first) starts in its mbuf.
inline uint8_t* FrameStart(rte_mbuf* m) {
  return rte_pktmbuf_mtod(m, uint8_t*);
}

// The flows' release callback for the mbufs they hold.
inline void FreeMbuf(void* m) { rte_pktmbuf_free(static_cast<rte_mbuf*>(m)); }

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_WORKER_MBUF_H_
