// The device group: parallel moves to each device's nearest state, errors
// that name the device, and the recovery rule per role.
#include "vfio/device_group.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "vfio/emu/emu_device.h"

namespace vmig::vfio {
namespace {

std::shared_ptr<MigrationDevice> Emu(const std::string& spec) {
  auto d = emu::EmuDevice::Create(spec);
  EXPECT_TRUE(d.ok()) << d.status();
  return std::shared_ptr<MigrationDevice>(std::move(*d));
}

uint64_t Digest(MigrationDevice& d) {
  return static_cast<emu::EmuDevice&>(d).StateDigest();
}

TEST(NearestStateTest, OptionalStatesFallBackToTheNearestOneADeviceHas) {
  const MigrationFlags all = kAllMigrationFlags;
  const MigrationFlags no_pre{kMigStopCopy | kMigP2P};
  const MigrationFlags no_p2p{kMigStopCopy | kMigPreCopy};
  const MigrationFlags plain{kMigStopCopy};
  EXPECT_EQ(NearestState(DeviceState::kPreCopyP2P, all),
            DeviceState::kPreCopyP2P);
  EXPECT_EQ(NearestState(DeviceState::kPreCopyP2P, no_pre),
            DeviceState::kRunningP2P);
  EXPECT_EQ(NearestState(DeviceState::kPreCopyP2P, no_p2p),
            DeviceState::kPreCopy);
  EXPECT_EQ(NearestState(DeviceState::kPreCopyP2P, plain),
            DeviceState::kRunning);
  EXPECT_EQ(NearestState(DeviceState::kStopCopy, plain),
            DeviceState::kStopCopy);
}

TEST(DeviceGroupTest, MovesEveryDeviceAndReturnsTheirDataSessions) {
  DeviceGroup g;
  ASSERT_TRUE(g.Add("a", Emu("emu:state=1MiB"), Recovery::kResume).ok());
  ASSERT_TRUE(
      g.Add("b", Emu("emu:state=1MiB,flags=stop_copy|p2p"), Recovery::kResume)
          .ok());
  std::vector<DeviceGroup::Arc> arcs;
  ASSERT_TRUE(g.MoveAll(DeviceState::kPreCopyP2P,
                        DeviceGroup::Schedule::kParallel, &arcs)
                  .ok());
  ASSERT_EQ(arcs.size(), 2u);
  EXPECT_NE(arcs[0].data, nullptr);  // PRE_COPY_P2P opens the saving fd
  EXPECT_EQ(arcs[1].data, nullptr);  // RUNNING_P2P does not
  EXPECT_EQ(*g[0].device->GetState(), DeviceState::kPreCopyP2P);
  EXPECT_EQ(*g[1].device->GetState(), DeviceState::kRunningP2P);
}

TEST(DeviceGroupTest, AFailedArcNamesTheDeviceAndTheTarget) {
  DeviceGroup g;
  ASSERT_TRUE(g.Add("ok", Emu("emu:"), Recovery::kResume).ok());
  ASSERT_TRUE(
      g.Add("bad", Emu("emu:fail_arc=RUNNING>RUNNING_P2P"), Recovery::kResume)
          .ok());
  absl::Status s = g.MoveAll(DeviceState::kRunningP2P,
                             DeviceGroup::Schedule::kSerial, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bad -> RUNNING_P2P"), std::string::npos) << s;
  EXPECT_EQ(s.message().find("ok ->"), std::string::npos) << s;
}

TEST(DeviceGroupTest, RecoveryResumesSourcesResetsDestinationsKeepsCommitted) {
  DeviceGroup g;
  auto src = Emu("emu:state=1MiB,seed=1");
  auto broken = Emu("emu:state=1MiB,seed=2,fail_arc=PRE_COPY_P2P>STOP_COPY");
  auto dst = Emu("emu:state=1MiB,seed=3");
  auto done = Emu("emu:state=1MiB,seed=4");
  const uint64_t src_digest = Digest(*src), broken_digest = Digest(*broken);
  ASSERT_TRUE(g.Add("src", src, Recovery::kResume).ok());
  ASSERT_TRUE(g.Add("broken", broken, Recovery::kResume).ok());
  ASSERT_TRUE(g.Add("dst", dst, Recovery::kReset).ok());
  ASSERT_TRUE(g.Add("done", done, Recovery::kKeep).ok());
  ASSERT_TRUE(src->SetState(DeviceState::kPreCopyP2P).ok());
  ASSERT_TRUE(broken->SetState(DeviceState::kPreCopyP2P).ok());
  EXPECT_FALSE(broken->SetState(DeviceState::kStopCopy).ok());
  EXPECT_EQ(*broken->GetState(), DeviceState::kError);
  ASSERT_TRUE(dst->SetState(DeviceState::kResuming).ok());
  ASSERT_TRUE(done->SetState(DeviceState::kStop).ok());
  EXPECT_TRUE(g.Recover().ok());
  EXPECT_EQ(*src->GetState(), DeviceState::kRunning);
  EXPECT_EQ(*broken->GetState(), DeviceState::kRunning);  // by reset
  EXPECT_EQ(*dst->GetState(), DeviceState::kRunning);
  EXPECT_EQ(*done->GetState(), DeviceState::kStop);
  EXPECT_EQ(Digest(*src), src_digest);
  EXPECT_EQ(Digest(*broken), broken_digest);
}

size_t ProcessThreads() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

// The arcs of every barrier run on the group's threads, started once: a
// session's hundred barriers start no more than size() - 1 threads, and
// the group's end leaves none behind.
TEST(DeviceGroupTest, ArcsRunOnThreadsStartedOnceForTheGroupsLife) {
  const size_t before = ProcessThreads();
  {
    DeviceGroup g;
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(
          g.Add(absl::StrCat("d", i), Emu("emu:state=64KiB"), Recovery::kResume)
              .ok());
    }
    // Started as the group formed: its first barrier (which may be a
    // switchover's) does not create them.
    EXPECT_EQ(g.arc_threads(), 3u);
    for (int round = 0; round < 100; ++round) {
      ASSERT_TRUE(g.MoveAll(DeviceState::kRunningP2P,
                            DeviceGroup::Schedule::kParallel, nullptr)
                      .ok());
      ASSERT_TRUE(g.MoveAll(DeviceState::kRunning,
                            DeviceGroup::Schedule::kParallel, nullptr)
                      .ok());
    }
    EXPECT_EQ(g.arc_threads(), 3u);
    EXPECT_EQ(ProcessThreads(), before + 3);
    EXPECT_TRUE(g.Recover().ok());
    EXPECT_EQ(g.arc_threads(), 3u);
  }
  EXPECT_EQ(ProcessThreads(), before);
}

}  // namespace
}  // namespace vmig::vfio
