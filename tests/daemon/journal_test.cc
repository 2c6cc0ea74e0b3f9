// The journal on its own: what a restarted daemon reads back (devices and
// sessions, the last record of each), a torn last line skipped, and the
// finished sessions it keeps bounded.
#include "daemon/journal.h"

#include <fstream>

#include "gtest/gtest.h"
#include "tests/integration/process.h"

namespace vmig::daemon {
namespace {

v1::JournalSession Session(const std::string& id, v1::Phase phase) {
  v1::JournalSession s;
  s.set_id(id);
  s.set_role(v1::ROLE_SOURCE);
  s.set_phase(phase);
  s.add_devices("nic0");
  return s;
}

TEST(JournalTest, ARestartReadsBackTheLastStateOfEachDeviceAndSession) {
  vmig::testing::TempDir dir;
  {
    auto j = Journal::Open(dir.path() + "/state");
    ASSERT_TRUE(j.ok()) << j.status();
    v1::AttachDeviceRequest a;
    a.set_device_id("api0");
    a.set_emulated_spec("emu:state=1MiB");
    ASSERT_TRUE((*j)->DeviceAttached(a).ok());
    a.set_device_id("gone");
    ASSERT_TRUE((*j)->DeviceAttached(a).ok());
    ASSERT_TRUE((*j)->DeviceDetached("gone").ok());
    ASSERT_TRUE(
        (*j)->SessionChanged(Session("s1", v1::PHASE_PRECOPY), false).ok());
    v1::JournalSession c = Session("s1", v1::PHASE_STOPCOPY);
    c.set_commit(v1::JournalSession::COMMIT_BEGUN);
    ASSERT_TRUE((*j)->SessionChanged(c, true).ok());
  }
  // The daemon died while writing one more line.
  std::ofstream(dir.path() + "/state/journal", std::ios::app)
      << "{\"session\":{\"id\":\"s1\",\"pha";
  auto again = Journal::Open(dir.path() + "/state");
  ASSERT_TRUE(again.ok()) << again.status();
  const Journal::State& r = (*again)->recovered();
  ASSERT_EQ(r.devices.size(), 1u);
  EXPECT_EQ(r.devices.at("api0").emulated_spec(), "emu:state=1MiB");
  ASSERT_EQ(r.sessions.size(), 1u);
  EXPECT_EQ(r.sessions.at("s1").phase(), v1::PHASE_STOPCOPY);
  EXPECT_EQ(r.sessions.at("s1").commit(), v1::JournalSession::COMMIT_BEGUN);
  EXPECT_EQ(r.sessions.at("s1").devices(0), "nic0");
}

TEST(JournalTest, FinishedSessionsAreKeptBounded) {
  vmig::testing::TempDir dir;
  {
    auto j = Journal::Open(dir.path());
    ASSERT_TRUE(j.ok());
    for (size_t i = 0; i < Journal::kKeptFinishedSessions + 10; ++i) {
      ASSERT_TRUE(
          (*j)->SessionChanged(
                  Session("f" + std::to_string(i), v1::PHASE_FAILED), false)
              .ok());
    }
    ASSERT_TRUE(
        (*j)->SessionChanged(Session("live", v1::PHASE_PRECOPY), false).ok());
  }
  auto again = Journal::Open(dir.path());
  ASSERT_TRUE(again.ok());
  const auto& sessions = (*again)->recovered().sessions;
  // Read back whole; the compaction at this open prunes to the newest.
  EXPECT_EQ(sessions.size(), Journal::kKeptFinishedSessions + 11);
  auto third = Journal::Open(dir.path());
  ASSERT_TRUE(third.ok());
  const auto& pruned = (*third)->recovered().sessions;
  EXPECT_EQ(pruned.size(), Journal::kKeptFinishedSessions + 1);
  EXPECT_TRUE(pruned.count("live"));
  // The newest: f10..f73 (pruned in the journal's order, not by name).
  EXPECT_FALSE(pruned.count("f0"));
  EXPECT_FALSE(pruned.count("f9"));
  EXPECT_TRUE(pruned.count("f10"));
  EXPECT_TRUE(pruned.count("f73"));
}

TEST(JournalTest, AStateDirThatCannotBeMadeIsAClearError) {
  auto j = Journal::Open("/proc/vmigd-cannot-be-here");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("state_dir"), std::string::npos)
      << j.status();
}

}  // namespace
}  // namespace vmig::daemon
