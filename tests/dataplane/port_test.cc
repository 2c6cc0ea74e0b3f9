// What a port's mbuf pool is built with, decided before any DPDK call.
#include "dataplane/port.h"

#include "gtest/gtest.h"

namespace vmig::dataplane {
namespace {

PortConfig Memif(const std::string& args) {
  PortConfig c;
  c.kind = PortConfig::Kind::kMemif;
  c.args = args;
  return c;
}

// The zero-copy client's mbufs are the buffers its peer's core copies
// frames out of: its pool hands them out in FIFO order, with no per-lcore
// cache to return the one the peer touched last. Every other pool keeps
// its cache.
TEST(PortTest, OnlyAZeroCopyMemifClientsPoolGoesWithoutACache) {
  EXPECT_EQ(PoolCacheSize(Memif("role=client,zero-copy=yes,socket=/s")), 0u);
  EXPECT_EQ(PoolCacheSize(Memif("role=slave,zero-copy=yes")), 0u);
  EXPECT_EQ(PoolCacheSize(Memif("role=client,zero-copy=no")), 256u);
  EXPECT_EQ(PoolCacheSize(Memif("role=client")), 256u);
  EXPECT_EQ(PoolCacheSize(Memif("role=server,zero-copy=yes")), 256u);
  EXPECT_EQ(PoolCacheSize(Memif("")), 256u);  // a server by default
  PortConfig af_packet;
  af_packet.kind = PortConfig::Kind::kAfPacket;
  af_packet.args = "veth0";
  EXPECT_EQ(PoolCacheSize(af_packet), 256u);
  PortConfig ring;
  ring.kind = PortConfig::Kind::kRing;
  ring.args = "pair:a";
  EXPECT_EQ(PoolCacheSize(ring), 256u);
}

}  // namespace
}  // namespace vmig::dataplane
