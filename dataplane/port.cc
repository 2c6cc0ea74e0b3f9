#include "dataplane/port.h"

#include <net/if.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dataplane/memif_socket.h"
#include "dataplane/peer_memory_guard.h"
#include "dataplane/ring_link.h"

namespace vmig::dataplane {
namespace {

std::atomic<int> g_port_seq{0};

// af_packet ring slots: a 9000-byte MTU frame plus the TPACKET header.
constexpr uint32_t kAfPacketSlotBytes = 10240;
// The largest MTU whose frame fits a slot after the TPACKET v2 header and
// the kernel's alignment padding before the MAC header (under 100 bytes).
constexpr uint32_t kAfPacketMaxMtu =
    kAfPacketSlotBytes - 128 - static_cast<uint32_t>(kEthHeaderBytes);

absl::Status Fail(const std::string& port, const std::string& step, int err) {
  return absl::UnavailableError(absl::StrCat(
      "port ", port, ": ", step, ": ", rte_strerror(err < 0 ? -err : err)));
}

uint32_t MtuOf(const PortConfig& c) {
  if (c.mtu != 0) return std::min(c.mtu, kMaxMtu);
  return c.kind == PortConfig::Kind::kMemif ? kMemifMtu : 9000;
}

// The MTU the kernel has for a network interface (af_packet's wire).
absl::StatusOr<uint32_t> InterfaceMtu(const std::string& port,
                                      const std::string& iface) {
  ifreq ifr = {};
  if (iface.empty() || iface.size() >= sizeof(ifr.ifr_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", port, ": bad interface name '", iface, "'"));
  }
  std::memcpy(ifr.ifr_name, iface.data(), iface.size());
  const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Fail(port, "socket for SIOCGIFMTU", errno);
  const int rc = ioctl(s, SIOCGIFMTU, &ifr);
  const int err = errno;
  close(s);
  if (rc != 0) return Fail(port, absl::StrCat("MTU of ", iface), err);
  return static_cast<uint32_t>(ifr.ifr_mtu);
}

// The MTU vmigd sizes its frames by, given what ethdev accepts (`eth_mtu`).
absl::StatusOr<uint32_t> FrameMtu(const PortConfig& c, uint32_t eth_mtu) {
  switch (c.kind) {
    case PortConfig::Kind::kMemif:
    case PortConfig::Kind::kRing:
      return MtuOf(c);  // no wire: any frame size
    case PortConfig::Kind::kAfPacket: {
      // af_packet reports ethdev's 1518-byte frame limit but carries
      // whatever fits its ring slots; the kernel interface's MTU is the
      // wire's. That MTU belongs to the host: vmigd reads it, never sets it.
      absl::StatusOr<uint32_t> iface = InterfaceMtu(c.name, c.args);
      if (!iface.ok()) return iface.status();
      return std::min({MtuOf(c), *iface, kAfPacketMaxMtu});
    }
    case PortConfig::Kind::kPci:
      break;
  }
  return eth_mtu;
}

uint32_t MbufsOf(const PortConfig& c) {
  if (c.mbufs != 0) return c.mbufs;
  const uint64_t room = MtuOf(c) + kEthHeaderBytes + RTE_PKTMBUF_HEADROOM;
  return static_cast<uint32_t>(
      std::max<uint64_t>(2048, kDefaultPoolBytes / room));
}

// memif's buffer size. The client owns the shared buffers of both
// directions. DPDK 22.11's memif receive, in copy mode, re-delivers old
// slots when a frame chained over several buffers is only partly in the ring
// (a copy-mode client "received" 2 GiB for 16 MiB sent): a copy-mode client
// therefore gets buffers that hold a whole frame, so frames never chain. A
// zero-copy client describes each frame by its own mbuf, whatever bsize says.
uint32_t MemifBufferBytes(const PortConfig& c) {
  const bool client = c.args.find("role=client") != std::string::npos;
  const bool zero_copy = c.args.find("zero-copy=yes") != std::string::npos;
  if (!client || zero_copy) return 10240;
  return std::min<uint32_t>(65535, MtuOf(c) + kEthHeaderBytes);
}

// log2 of the memif ring: the configured rsize, else memif's default 1024
// but at most an eighth of the pool over all queues (256 a queue for one
// queue of 64000-byte frames). The ring holds a queue's posted RX buffers:
// on the zero-copy client these are the port's own mbufs, so it must leave
// most of the pool for frames in flight.
unsigned MemifRingLog2(const PortConfig& c, uint32_t mbufs) {
  if (const size_t at = c.args.find("rsize="); at != std::string::npos) {
    return static_cast<unsigned>(std::atoi(c.args.c_str() + at + 6));
  }
  unsigned log2 = 10;
  while (log2 > 6 && (uint32_t{c.queues} << log2) > mbufs / 8) --log2;
  return log2;
}

}  // namespace

// A pool's per-lcore cache hands back the mbuf freed last. On a zero-copy
// memif client that is the buffer the peer's core has just copied a frame
// out of, so every line the device's read then writes into it must first be
// taken back from the peer's cache. Without a cache the pool is a FIFO ring
// over all its mbufs (about 2300 at the memif MTU), and a buffer returns
// long after its lines have left the peer's core. Alternating runs of
// vmig-bench transport --streams 4 --bytes 2GiB on a 2-core AMD EPYC:
// unprotected 7.15-7.33 GB/s without the cache against 4.87-6.19 with it,
// encrypted 5.22-5.84 against 3.37-5.00 (docs/benchmarks.md). A cache of 32
// kept most of the loss. Elsewhere the worker itself last touched the
// buffer it gets back (af_packet's PMD copies each frame into the kernel's
// ring), and the LIFO keeps that buffer in its own cache.
uint32_t PoolCacheSize(const PortConfig& c) {
  const bool zero_copy_client = c.kind == PortConfig::Kind::kMemif &&
                                MemifRoleIsClient(c.args) &&
                                MemifZeroCopy(c.args);
  return zero_copy_client ? 0 : 256;
}

absl::StatusOr<std::unique_ptr<Port>> Port::Open(const PortConfig& c) {
  std::unique_ptr<Port> p(new Port());
  const int seq = g_port_seq++;
  const uint32_t mbufs = MbufsOf(c);
  const unsigned memif_ring_log2 = MemifRingLog2(c, mbufs);
  // One straight sequence; each failure names the port and the step.
  std::string devargs;
  switch (c.kind) {
    case PortConfig::Kind::kMemif:
      if (!MemifRoleIsClient(c.args)) {
        // A server killed without cleaning up left its socket file: a new
        // server could not bind it.
        if (absl::Status s = RemoveStaleMemifSocket(c.args); !s.ok())
          return absl::Status(s.code(),
                              absl::StrCat("port ", c.name, ": ", s.message()));
      }
      p->device_name_ = absl::StrCat("net_memif", seq);
      devargs = absl::StrCat(p->device_name_, ",", c.args);
      if (c.args.find("bsize=") == std::string::npos) {
        absl::StrAppend(&devargs, ",bsize=", MemifBufferBytes(c));
      }
      if (c.args.find("rsize=") == std::string::npos) {
        absl::StrAppend(&devargs, ",rsize=", memif_ring_log2);
      }
      break;
    case PortConfig::Kind::kAfPacket:
      p->device_name_ = absl::StrCat("net_af_packet", seq);
      // 10 KiB slots so that a 9000-byte MTU frame fits one (blocks must be
      // whole pages: two slots a block). 256 slots a ring (2.5 MiB): with
      // 1024 the four rings of a sender and a receiver (40 MiB) outgrew the
      // cache, and moved 1.70 GB/s against 1.94 with 256 (median of five
      // runs each of vmig-bench transport --port af_packet, docs/
      // benchmarks.md); 64 began to drop frames. The qdisc is bypassed
      // (the PMD's default, said here): the ring is the only queue.
      devargs = absl::StrCat(
          p->device_name_, ",iface=", c.args, ",qpairs=", c.queues,
          ",blocksz=", 2 * kAfPacketSlotBytes, ",framesz=", kAfPacketSlotBytes,
          ",framecnt=256,qdisc_bypass=1");
      break;
    case PortConfig::Kind::kPci:
      p->device_name_ = c.args;
      devargs = c.args;
      break;
    case PortConfig::Kind::kRing: {
      const size_t colon = c.args.rfind(':');
      const std::string pair = c.args.substr(0, colon);
      const std::string side =
          colon == std::string::npos ? "" : c.args.substr(colon + 1);
      if (pair.empty() || (side != "a" && side != "b")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "port ", c.name, ": ring arguments must be PAIR:a or PAIR:b"));
      }
      absl::StatusOr<std::shared_ptr<RingLink>> link =
          RingLink::Join(pair, c.queues, c.ring_size);
      if (!link.ok()) return link.status();
      p->ring_link_ = *std::move(link);
      std::vector<rte_ring*> rx = p->ring_link_->RxRings(side == "a");
      std::vector<rte_ring*> tx = p->ring_link_->TxRings(side == "a");
      p->device_name_ = absl::StrCat("vmig_ring", seq);
      const int id =
          rte_eth_from_rings(p->device_name_.c_str(), rx.data(), c.queues,
                             tx.data(), c.queues, rte_socket_id());
      if (id < 0) return Fail(c.name, "ring port", rte_errno);
      p->port_id_ = static_cast<uint16_t>(id);
      break;
    }
  }
  if (c.kind != PortConfig::Kind::kRing) {
    if (int rc = rte_dev_probe(devargs.c_str()); rc != 0)
      return Fail(c.name, "probe " + devargs, rc);
    if (int rc =
            rte_eth_dev_get_port_by_name(p->device_name_.c_str(), &p->port_id_);
        rc != 0) {
      return Fail(c.name, "find " + p->device_name_, rc);
    }
  }
  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(p->port_id_, &info); rc != 0) {
    return Fail(c.name, "device info", rc);
  }
  p->device_ = info.device;
  if (c.kind == PortConfig::Kind::kMemif &&
      c.args.find("zero-copy=yes") != std::string::npos) {
    p->posted_rx_capacity_ = c.queues * (1u << memif_ring_log2);
  }
  p->queues_ =
      std::min<uint16_t>({c.queues, info.max_rx_queues, info.max_tx_queues});
  // ethdev refuses an MTU whose frame exceeds max_rx_pktlen (1518 for
  // memif). memif has no wire, though: it carries any frame size in chained
  // shared-memory buffers, so vmigd sizes memif frames from the configured
  // MTU and configures ethdev with what it accepts.
  const uint32_t eth_mtu = std::min<uint32_t>(
      {MtuOf(c), info.max_mtu,
       info.max_rx_pktlen - RTE_ETHER_HDR_LEN - RTE_ETHER_CRC_LEN});
  absl::StatusOr<uint32_t> wire_mtu = FrameMtu(c, eth_mtu);
  if (!wire_mtu.ok()) return wire_mtu.status();
  const uint32_t mtu = *wire_mtu;
  // RX buffers must hold whatever the PMD may deliver (af_packet refuses
  // queues whose mbufs are smaller than its slots). Rings pass mbufs
  // through and report no limit.
  const uint32_t frame = std::max<uint32_t>(
      {mtu + static_cast<uint32_t>(kEthHeaderBytes),
       c.kind == PortConfig::Kind::kRing ? 0 : info.max_rx_pktlen,
       c.kind == PortConfig::Kind::kAfPacket ? kAfPacketSlotBytes : 0});
  p->pool_ = rte_pktmbuf_pool_create(
      absl::StrCat("vmig_pool_", seq).c_str(), mbufs, PoolCacheSize(c), 0,
      static_cast<uint16_t>(RTE_PKTMBUF_HEADROOM + frame), rte_socket_id());
  if (!p->pool_) return Fail(c.name, "mbuf pool", rte_errno);
  // A zero-copy client shares EAL's memory (the pool's included) with its
  // peer, and memif closes those descriptors on a disconnect.
  if (c.kind == PortConfig::Kind::kMemif && MemifZeroCopy(c.args))
    ProtectEalMemoryFds();

  rte_eth_conf conf = {};
  conf.rxmode.mtu = eth_mtu;
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  }
  if (int rc =
          rte_eth_dev_configure(p->port_id_, p->queues_, p->queues_, &conf);
      rc != 0) {
    return Fail(c.name, "configure", rc);
  }
  // Some PMDs (memif) take the MTU only from the configuration. af_packet's
  // would set the host interface's MTU (to ethdev's 1500).
  if (c.kind != PortConfig::Kind::kAfPacket) {
    if (int rc =
            rte_eth_dev_set_mtu(p->port_id_, static_cast<uint16_t>(eth_mtu));
        rc != 0 && rc != -ENOTSUP) {
      return Fail(c.name, absl::StrCat("set MTU ", eth_mtu), rc);
    }
  }
  for (uint16_t q = 0; q < p->queues_; ++q) {
    if (int rc = rte_eth_rx_queue_setup(p->port_id_, q, c.ring_size,
                                        rte_socket_id(), nullptr, p->pool_);
        rc != 0) {
      return Fail(c.name, absl::StrCat("rx queue ", q), rc);
    }
    if (int rc = rte_eth_tx_queue_setup(p->port_id_, q, c.ring_size,
                                        rte_socket_id(), nullptr);
        rc != 0) {
      return Fail(c.name, absl::StrCat("tx queue ", q), rc);
    }
  }
  if (int rc = rte_eth_dev_start(p->port_id_); rc != 0)
    return Fail(c.name, "start", rc);
  p->started_ = true;
  // Frames for other hosts' MACs still reach us on a shared segment (veth,
  // af_packet); the vmigd header's session check does the filtering.
  (void)rte_eth_promiscuous_enable(p->port_id_);
  rte_ether_addr mac;
  if (rte_eth_macaddr_get(p->port_id_, &mac) == 0) {
    std::copy(mac.addr_bytes, mac.addr_bytes + 6, p->mac_.begin());
  }
  // Room for an AEAD tag in every frame, whatever the session's protection.
  p->max_payload_ =
      mtu - kIpv4HeaderBytes - kUdpHeaderBytes - sizeof(WireHeader) - kTagBytes;
  return p;
}

void Port::Close() {
  // Not while memif's interrupt thread is still disconnecting a dead peer.
  if (device_name_.rfind("net_memif", 0) == 0) AwaitPeerUnmapsSettled();
  if (started_) {
    // memif's zero-copy client returns sent mbufs the peer has consumed to
    // the pool only at its next transmit call, and stopping the port does
    // not: an empty burst per queue hands them back. (The workers that own
    // the queues have stopped by now.)
    // The burst reads the peer's rings: like a worker's, it must end before
    // memif's interrupt thread unmaps a peer that dies right now (a daemon
    // stopped with its peer died so in memif's transmit, under ASan). This
    // lcore joins the quiescence domain for its length.
    {
      const WorkerQuiescence flushing;
      rte_mbuf* none[1] = {nullptr};
      for (uint16_t q = 0; q < queues_; ++q)
        (void)rte_eth_tx_burst(port_id_, q, none, 0);
    }
    (void)rte_eth_dev_stop(port_id_);
  }
  started_ = false;
  if (device_) {
    (void)rte_eth_dev_close(port_id_);
    (void)rte_dev_remove(device_);
    device_ = nullptr;
  }
}

Port::~Port() {
  Close();
  if (ring_link_ && pool_) {
    // This side's frames may be on the link or in the peer's hands.
    ring_link_->Adopt(pool_);
  } else if (pool_) {
    rte_mempool_free(pool_);
  }
}

bool Port::LinkUp() const {
  rte_eth_link link = {};
  return rte_eth_link_get_nowait(port_id_, &link) == 0 &&
         link.link_status == RTE_ETH_LINK_UP;
}

absl::Status Port::WaitLinkUp(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!LinkUp()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("port ", device_name_, ": link still down after ",
                       absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::OkStatus();
}

}  // namespace vmig::dataplane
