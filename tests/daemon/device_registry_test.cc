// The device registry under the races and bounds of the first law: an
// attach succeeds whole or leaves nothing, absurd emulated sizes are refused
// with INVALID_ARGUMENT, and reading a large device's digest does not hold
// the lock every other device call takes.
#include "daemon/device_registry.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "vfio/kernel/device_open.h"

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

TEST(DeviceRegistryTest, EmulatedDevicesAreRefusedWhereTheDaemonTakesNone) {
  DeviceRegistry r(4, {.allowed = false});
  auto refused = r.Attach(Emu("e", "emu:state=1MiB"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("allow_emulated_devices"),
            std::string::npos)
      << refused.status();
  EXPECT_TRUE(r.List().empty());
}

// An emulated device's memory (16 bytes a block) counts against the
// memory limit: one call cannot make a device of 1 TiB (256 MiB of
// bookkeeping), and what detached devices held is free again.
TEST(DeviceRegistryTest, EmulatedDevicesCountAgainstTheMemoryLimit) {
  DeviceRegistry r(64, {.allowed = true, .max_bytes = 64ull << 20});
  auto huge = r.Attach(Emu("huge", "emu:state=1TiB,block=64KiB"));
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(huge.status().message().find("need 256 MiB"), std::string::npos)
      << huge.status();
  EXPECT_NE(huge.status().message().find("limits.max_memory_bytes (64 MiB)"),
            std::string::npos)
      << huge.status();
  // 128 MiB in 512-byte blocks: 4 MiB of bookkeeping each, 16 fit in 64 MiB.
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(
        r.Attach(Emu(absl::StrCat("d", i), "emu:state=128MiB,block=512")).ok())
        << i;
  }
  EXPECT_EQ(
      r.Attach(Emu("one-more", "emu:state=128MiB,block=512")).status().code(),
      absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(r.Detach("d0").ok());
  EXPECT_TRUE(r.Attach(Emu("one-more", "emu:state=128MiB,block=512")).ok());
}

TEST(DeviceRegistryTest, ADigestDoesNotHoldTheLockOtherCallsTake) {
  DeviceRegistry r(4);
  ASSERT_TRUE(r.Attach(Emu("small", "emu:state=1MiB")).ok());
  // Generated state the attach digests before it answers: seconds of it
  // (64 GiB: 4.4 s on an AMD EPYC guest; ASan makes the generator about
  // 70 times slower, so 2 GiB there, about 10 s).
#ifdef VMIG_SANITIZED
  constexpr char kBig[] = "emu:state=2GiB,block=4MiB";
#else
  constexpr char kBig[] = "emu:state=64GiB,block=4MiB";
#endif
  std::atomic<bool> attached{false};
  std::thread attacher([&] {
    EXPECT_TRUE(r.Attach(Emu("big", kBig)).ok());
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

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The daemon writes an emulated device's state file after every arc and
// deletes it on detach, as root: a request that named any file could
// overwrite or delete it. Only the file the daemon itself chooses (under
// its state directory) is accepted.
TEST(DeviceRegistryTest, ARequestCannotNameTheFileAnEmulatedDeviceWrites) {
  const std::string dir = ::testing::TempDir() + "/registry_state_file";
  std::filesystem::create_directories(dir);
  const std::string victim = dir + "/victim";
  std::ofstream(victim) << "precious";
  for (const bool with_state_dir : {false, true}) {
    DeviceRegistry r(4);
    if (with_state_dir) r.set_emu_state_dir(dir + "/emu");
    auto refused = r.Attach(Emu("d0", "emu:state=1MiB,state_file=" + victim));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("state_file"), std::string::npos)
        << refused.status();
    EXPECT_TRUE(r.List().empty());
    EXPECT_FALSE(r.Detach("devices/d0").ok());
  }
  EXPECT_EQ(ReadAll(victim), "precious");
  // The path the daemon chooses itself (a restored device's spec names it)
  // is the one accepted.
  DeviceRegistry r(4);
  r.set_emu_state_dir(dir + "/emu");
  auto own =
      r.Attach(Emu("d1", "emu:state=1MiB,state_file=" + dir + "/emu/d1.state"));
  EXPECT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(ReadAll(victim), "precious");
}

// Kernel paths are opened read-write as root, and opening some device nodes
// acts by itself (a watchdog starts counting): only the kernel's VFIO nodes
// may be named, and anything else is refused before any open.
TEST(DeviceRegistryTest, KernelPathsOutsideTheVfioNodesAreRefusedUnopened) {
  DeviceRegistry r(4);
  auto cdev = [&](const std::string& path) {
    v1::AttachDeviceRequest req;
    req.set_device_id("k");
    req.mutable_kernel()->set_cdev(path);
    return r.Attach(req).status();
  };
  auto group = [&](const std::string& path) {
    v1::AttachDeviceRequest req;
    req.set_device_id("k");
    req.mutable_kernel()->set_group(path);
    req.mutable_kernel()->set_device_name("0000:00:01.0");
    return r.Attach(req).status();
  };
  for (const char* bad :
       {"/dev/null", "/dev/watchdog", "/dev/vfio/devices/../../watchdog",
        "/dev/vfio/devices/vfio", "/dev/vfio/devices/vfio1x",
        "dev/vfio/devices/vfio1", "/dev/vfio/devices/vfio1/"}) {
    const absl::Status s = cdev(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad << ": " << s;
    EXPECT_NE(s.message().find("kernel.cdev"), std::string::npos) << s;
  }
  for (const char* bad :
       {"/etc/passwd", "/dev/vfio/vfio", "/dev/vfio/../watchdog",
        "/dev/vfio/noiommu-", "/dev/vfio/12a"}) {
    const absl::Status s = group(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad << ": " << s;
    EXPECT_NE(s.message().find("kernel.group"), std::string::npos) << s;
  }
  // The kernel's own names pass the check (and fail later, here: no VFIO).
  EXPECT_NE(cdev("/dev/vfio/devices/vfio0").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(group("/dev/vfio/noiommu-3").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.List().empty());
}

// What a VMM hands over on fd_socket must be a VFIO device: VFIO's ioctls
// on another file could mean something else to its driver.
TEST(DeviceRegistryTest, AnFdThatIsNotAVfioDeviceIsRefused) {
  const std::string path = ::testing::TempDir() + "/registry_fd.sock";
  ::unlink(path.c_str());
  const int listener = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(::listen(listener, 1), 0);
  std::thread vmm([&] {
    const int conn = ::accept(listener, nullptr, nullptr);
    const int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    (void)vfio::kernel::SendDeviceFd(conn, "nic0", fd);
    ::close(fd);
    ::close(conn);
  });
  DeviceRegistry r(4);
  v1::AttachDeviceRequest req;
  req.set_device_id("k");
  req.set_fd_socket(path);
  const absl::Status s = r.Attach(req).status();
  vmm.join();
  ::close(listener);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("fd_socket"), std::string::npos) << s;
  EXPECT_NE(s.message().find("not a VFIO device"), std::string::npos) << s;
  EXPECT_TRUE(r.List().empty());
}

}  // namespace
}  // namespace vmig::daemon
