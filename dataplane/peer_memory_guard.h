// Keeps a memif peer's shared memory mapped until no worker can still be
// inside a burst that touches it.
//
// Why: when a memif peer dies, DPDK 22.11's memif PMD disconnects from the
// EAL interrupt thread: it clears its "connected" flag and then unmaps the
// peer's regions at once, while a worker that passed the flag check a moment
// earlier may still be copying from or into them. The survivor then dies of
// SIGSEGV or SIGBUS (4 of 10 kills of a sending peer, measured). Upstream has
// no fix, and vmigd does not patch DPDK.
//
// How: quiescent-state-based reclamation (DPDK's rte_rcu_qsbr). Every worker
// lcore reports a quiescent state between its loop passes (a store; no lock,
// no allocation) and goes offline while it sleeps. vmigd interposes munmap:
// an unmap issued from the EAL interrupt thread, which is where memif unmaps
// a dead peer's regions, first waits until every online worker has reported
// a quiescent state since the unmap began. By then each worker has either
// finished the burst it was in, or it will see the cleared flag and not
// touch the port; memif's own rte_free of its region records comes after
// the unmap, so it is covered too. Unmaps from any other thread go straight
// through, and nothing waits on the poll path.
#ifndef VMIGD_DATAPLANE_PEER_MEMORY_GUARD_H_
#define VMIGD_DATAPLANE_PEER_MEMORY_GUARD_H_

namespace vmig::dataplane {

// A worker lcore's membership, for the life of its Run(). On a thread that
// is not an EAL lcore it does nothing (no port is driven from there).
class WorkerQuiescence {
 public:
  WorkerQuiescence();   // registers this lcore and puts it online
  ~WorkerQuiescence();  // offline and unregistered
  WorkerQuiescence(const WorkerQuiescence&) = delete;
  WorkerQuiescence& operator=(const WorkerQuiescence&) = delete;

  // Between loop passes: this worker holds no pointer into a port's memory.
  void Quiescent() const;
  // Around a sleep (or an injected hang): an unmap need not wait for us.
  void Offline() const;
  void Online() const;

 private:
  unsigned id_;  // the lcore id, or kNone
};

// Keeps EAL's own memory descriptors open across a memif zero-copy port's
// disconnect. A zero-copy client hands the peer EAL's memory-segment
// descriptors, and DPDK 22.11's memif closes them again when it frees its
// regions (on a peer's death, from the interrupt thread, and on a close):
// EAL can then grow its memory no more (the next mbuf pool fails with
// ENOMEM) and the freed numbers go to whatever opens next. vmigd
// interposes close: these descriptors are left open (the call reports
// success). Call after EAL is up, before a zero-copy port opens; again
// later adds segments EAL mapped since.
void ProtectEalMemoryFds();
// Whether `fd` is one of them.
bool IsProtectedEalFd(int fd);

// Before a memif port closes: waits (at most 2 s) until no unmap from the
// interrupt thread is waiting or running, and the last one ended 20 ms
// ago. memif's disconnect of a dead peer goes on a moment past its unmap,
// and a close of the same port meanwhile would tear it down a second time,
// concurrently (a daemon stopped right after its peer died crashed so in
// memif, under ASan). The guard's wait made that window as long as a
// worker's pass; this gives it back.
void AwaitPeerUnmapsSettled();

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_PEER_MEMORY_GUARD_H_
