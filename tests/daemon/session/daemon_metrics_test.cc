// The daemon's metrics are an object on a registry passed in, not a
// global: two daemons' metrics in one process count apart, and each page
// shows what its own daemon was told.
#include "daemon/session/daemon_metrics.h"

#include "gtest/gtest.h"
#include "metrics/registry.h"

namespace vmig::daemon {
namespace {

v1::Session Ended(v1::Phase phase) {
  v1::Session s;
  s.set_role(v1::ROLE_SOURCE);
  s.set_phase(phase);
  s.mutable_progress()->set_transferred_bytes(4096);
  return s;
}

TEST(DaemonMetricsTest, TwoDaemonsMetricsCountApartOnTheirOwnPages) {
  metrics::Registry page_a, page_b;
  DaemonMetrics a(page_a), b(page_b);
  a.PeerSilent(v1::ROLE_SOURCE);
  a.PeerSilent(v1::ROLE_SOURCE);
  a.PhaseChanged(v1::PHASE_PRECOPY, Ended(v1::PHASE_CANCELLED));
  b.PeerCallFailed("commit", "UNAVAILABLE");

  const std::string text_a = page_a.Render(), text_b = page_b.Render();
  EXPECT_NE(text_a.find("vmigd_peer_silent_total{role=\"source\"} 2"),
            std::string::npos)
      << text_a;
  EXPECT_NE(text_a.find("vmigd_migrations_total{role=\"source\",outcome="
                        "\"cancelled\"} 1"),
            std::string::npos)
      << text_a;
  EXPECT_EQ(text_a.find("UNAVAILABLE"), std::string::npos) << text_a;
  EXPECT_NE(text_b.find("vmigd_peer_call_failures_total{method=\"commit\","
                        "code=\"UNAVAILABLE\"} 1"),
            std::string::npos)
      << text_b;
  EXPECT_EQ(text_b.find("vmigd_peer_silent_total{role=\"source\"}"),
            std::string::npos)
      << text_b;
  // Both pages list the families from the start, counted or not.
  EXPECT_NE(text_b.find("# TYPE vmigd_migrations_total counter"),
            std::string::npos);
}

}  // namespace
}  // namespace vmig::daemon
