// The device registry under the races and bounds of the first law: an
// attach succeeds whole or leaves nothing, absurd emulated sizes are refused
// with INVALID_ARGUMENT, and reading a large device's digest does not hold
// the lock every other device call takes.
#include "daemon/device_registry.h"

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

v1::AttachDeviceRequest Emu(const std::string& id, const std::string& spec) {
  v1::AttachDeviceRequest req;
  req.set_device_id(id);
  req.set_emulated_spec(spec);
  return req;
}

TEST(DeviceRegistryTest, AnAbsurdEmulatedSizeIsRefusedAndLeavesNothing) {
  DeviceRegistry r(2);
  auto refused = r.Attach(Emu("huge", "emu:state=64TiB,block=512"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("blocks"), std::string::npos)
      << refused.status();
  EXPECT_TRUE(r.List().empty());
  // No slot and no id was kept: the limit of two still admits two.
  EXPECT_TRUE(r.Attach(Emu("huge", "emu:state=1MiB")).ok());
  EXPECT_TRUE(r.Attach(Emu("b", "emu:state=1MiB")).ok());
}

TEST(DeviceRegistryTest, ADigestDoesNotHoldTheLockOtherCallsTake) {
  DeviceRegistry r(4);
  ASSERT_TRUE(r.Attach(Emu("small", "emu:state=1MiB")).ok());
  // 64 GiB of generated state: the attach answers with its digest, which
  // reads all of it (seconds).
  std::atomic<bool> attached{false};
  std::thread attacher([&] {
    EXPECT_TRUE(r.Attach(Emu("big", "emu:state=64GiB,block=4MiB")).ok());
    attached = true;
  });
  absl::SleepFor(absl::Milliseconds(300));
  // Claiming, finding, listing and releasing other devices do not wait.
  auto claimed = r.Claim({"small"}, "sessions/x");
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_TRUE(r.Find("small").ok());
  EXPECT_TRUE(r.Get("small").ok());
  r.Release({"small"}, "sessions/x");
  EXPECT_FALSE(attached.load()) << "the digest finished first: nothing shown";
  attacher.join();
}

}  // namespace
}  // namespace vmig::daemon
