// One Ethernet port of the data plane: a memif (two daemons on one host),
// an af_packet on a kernel interface (two hosts or network namespaces), or a
// PCI NIC named by EAL arguments. Queue pair i belongs to worker i.
#ifndef VMIGD_DATAPLANE_PORT_H_
#define VMIGD_DATAPLANE_PORT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dataplane/wire.h"

struct rte_mempool;
struct rte_ring;
struct rte_device;

namespace vmig::dataplane {

class RingLink;

// memif's default MTU. Shared memory has no wire and carries any frame size,
// and the per-frame costs (headers, acks, descriptors, mbuf handling) are a
// third of the sender's time at 9000 bytes: 64000-byte frames moved 1.25x
// as much (docs/benchmarks.md). The limit is the mbuf's 16-bit buffer length.
inline constexpr uint32_t kMemifMtu = 64000;
inline constexpr uint32_t kMaxMtu = 65000;
// A default pool: 16384 mbufs at MTU 9000, 2300 at kMemifMtu.
inline constexpr uint64_t kDefaultPoolBytes = 150ull << 20;

struct PortConfig {
  std::string name = "peer0";
  enum class Kind { kMemif, kAfPacket, kPci, kRing } kind = Kind::kMemif;
  // memif: vdev arguments ("role=server,socket=/run/vmigd/memif.sock");
  // af_packet: the interface name; pci: the device address; ring: "PAIR:a"
  // or "PAIR:b", the two sides of an in-process link made of rte_rings
  // (benchmarks and tests; the sides may open and close in any order).
  std::string args;
  uint16_t queues = 1;
  // 0: the kind's default, kMemifMtu on memif and 9000 elsewhere; always
  // capped by what the port supports.
  uint32_t mtu = 0;
  // Mbufs in the port's pool; 0: kDefaultPoolBytes worth of frames.
  uint32_t mbufs = 0;
  uint16_t ring_size = 1024;
  absl::Duration link_timeout = absl::Seconds(10);
};

// The per-lcore cache of a port's mbuf pool: none for a zero-copy memif
// client, whose mbufs are the buffers the peer's core copies frames out of
// and into; 256 otherwise. Why, with the figures: port.cc.
uint32_t PoolCacheSize(const PortConfig& c);

class Port {
 public:
  static absl::StatusOr<std::unique_ptr<Port>> Open(const PortConfig& config);
  ~Port();
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  // Waits for link up (the memif peer connected, the interface up).
  absl::Status WaitLinkUp(absl::Duration timeout);
  bool LinkUp() const;
  // Stops and closes the port: the PMD gives back the mbufs posted to its
  // rings and those it holds from transmits. Call once the workers that own
  // its queues have stopped. The pool stays (for accounting) until the Port is
  // destroyed.
  void Close();

  uint16_t id() const { return port_id_; }
  rte_mempool* pool() const { return pool_; }
  uint16_t queues() const { return queues_; }
  // Largest vmigd payload one frame carries on this port.
  uint32_t max_payload() const { return max_payload_; }
  const std::array<uint8_t, 6>& mac() const { return mac_; }
  // Mbufs the PMD may keep posted on its RX rings, even after Close(): a
  // memif zero-copy client's rings hold the client's own buffers.
  unsigned posted_rx_capacity() const { return posted_rx_capacity_; }

 private:
  Port() = default;
  std::string device_name_;
  uint16_t port_id_ = 0;
  rte_device* device_ = nullptr;
  uint16_t queues_ = 1;
  rte_mempool* pool_ = nullptr;
  uint32_t max_payload_ = 0;
  std::array<uint8_t, 6> mac_{};
  bool started_ = false;
  unsigned posted_rx_capacity_ = 0;
  std::shared_ptr<RingLink>
      ring_link_;  // kRing: the link, shared with the peer
};

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_PORT_H_
