// The in-process ring link (kRing ports): the sides open and close in any
// order, and a side that closes first leaves its frames readable by the
// other (they travel by pointer, from the closing side's pool).
#include "dataplane/ring_link.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "dataplane/eal.h"
#include "dataplane/port.h"
#include "gtest/gtest.h"

namespace vmig::dataplane {
namespace {

class RingLinkTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    static const bool ok = [] {
      EalOptions o;
      o.lcores = "0";
      o.file_prefix = absl::StrCat("vmig-ringlink-", getpid());
      o.memory_mb = 256;
      if (!InitEal(o).ok()) return false;
      std::atexit([] { CleanupEal(); });
      return true;
    }();
    ASSERT_TRUE(ok) << "EAL did not start";
  }

  static std::unique_ptr<Port> Open(const std::string& args,
                                    uint16_t queues = 1) {
    PortConfig c;
    c.name = args;
    c.kind = PortConfig::Kind::kRing;
    c.args = args;
    c.queues = queues;
    c.mbufs = 512;
    absl::StatusOr<std::unique_ptr<Port>> p = Port::Open(c);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  }

  // Sends one frame holding `text` on queue 0.
  static bool Send(Port& from, const std::string& text) {
    rte_mbuf* m = rte_pktmbuf_alloc(from.pool());
    if (!m) return false;
    char* d = rte_pktmbuf_append(m, text.size());
    std::memcpy(d, text.data(), text.size());
    if (rte_eth_tx_burst(from.id(), 0, &m, 1) == 1) return true;
    rte_pktmbuf_free(m);
    return false;
  }

  // Receives what queue 0 holds, frees it, and returns the texts.
  static std::vector<std::string> Receive(Port& at) {
    std::vector<std::string> got;
    rte_mbuf* m[16];
    const uint16_t n = rte_eth_rx_burst(at.id(), 0, m, 16);
    for (uint16_t i = 0; i < n; ++i) {
      got.emplace_back(rte_pktmbuf_mtod(m[i], const char*), m[i]->data_len);
      rte_pktmbuf_free(m[i]);
    }
    return got;
  }
};

TEST_F(RingLinkTest, TheSideThatStaysReceivesWhatAClosedSideSent) {
  for (const char* first : {"a", "b"}) {
    SCOPED_TRACE(absl::StrCat("closing side ", first, " first"));
    const std::string pair = absl::StrCat("rlclose", first);
    std::unique_ptr<Port> a = Open(pair + ":a");
    std::unique_ptr<Port> b = Open(pair + ":b");
    ASSERT_TRUE(a && b);
    std::unique_ptr<Port>& closing = *first == 'a' ? a : b;
    std::unique_ptr<Port>& staying = *first == 'a' ? b : a;
    ASSERT_TRUE(Send(*closing, "sent before closing"));
    // The worker behind `staying` may still poll: the rings and the frame's
    // pool (the closing side's) must outlive the closing side.
    closing.reset();
    EXPECT_EQ(Receive(*staying),
              std::vector<std::string>{"sent before closing"});
    EXPECT_TRUE(Receive(*staying).empty());
  }
}

TEST_F(RingLinkTest, APairReopensOnceBothSidesClosed) {
  for (int round = 0; round < 3; ++round) {
    std::unique_ptr<Port> a = Open("rlreopen:a");
    std::unique_ptr<Port> b = Open("rlreopen:b");
    ASSERT_TRUE(a && b) << "round " << round;
    ASSERT_TRUE(Send(*a, absl::StrCat("round ", round)));
    // A frame left on the link goes back to its pool with the link.
    ASSERT_TRUE(Send(*b, "left on the link"));
    EXPECT_EQ(Receive(*b),
              std::vector<std::string>{absl::StrCat("round ", round)});
  }
}

TEST_F(RingLinkTest, ASecondSideWithOtherQueuesIsRefusedNamingThePair) {
  std::unique_ptr<Port> a = Open("rlqueues:a", 2);
  ASSERT_TRUE(a);
  PortConfig c;
  c.kind = PortConfig::Kind::kRing;
  c.args = "rlqueues:b";
  c.queues = 1;
  c.mbufs = 512;
  absl::StatusOr<std::unique_ptr<Port>> b = Port::Open(c);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("ring pair rlqueues has 2 queues"),
            std::string::npos)
      << b.status();
}

}  // namespace
}  // namespace vmig::dataplane
