// The kernel backend on the real kernel: mtty mdevs in the kernel-test VM
// (scripts/kernel-test.sh runs this binary there; it has no devices to
// open anywhere else). A migration's state is checked end to end through
// the UART's FIFO: what the source's FIFO held comes out of the
// destination's.
#include <sys/socket.h>

#include <cstdlib>

#include "gtest/gtest.h"
#include "tests/vfio/kernel/mtty_uart.h"
#include "vfio/kernel/device_open.h"
#include "vfio/kernel/kernel_device.h"
#include "vfio/local_migration.h"

namespace vmig::vfio::kernel {
namespace {

using S = DeviceState;

class MttyLocalMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* list = std::getenv("VMIG_MDEVS_FILE");
    mdevs_ = ReadMdevList(list ? list : "/tmp/job/mdevs");
    ASSERT_GE(mdevs_.size(), 2u)
        << "no mtty mdevs: this test runs in the kernel-test VM";
    for (int i = 0; i < 2; ++i) {
      auto d = OpenGroupDevice(mdevs_[i].first, mdevs_[i].second,
                               mdevs_[i].first, Syscalls::Real());
      ASSERT_TRUE(d.ok()) << d.status();
      dev_[i] = std::move(*d);
      ASSERT_TRUE(dev_[i]->Reset().ok());
      // Whatever an earlier test left in the FIFOs goes.
      ASSERT_TRUE(MttyDrainFifo(dev_[i]->fd()).ok());
    }
  }
  std::vector<std::pair<std::string, std::string>> mdevs_;
  std::unique_ptr<KernelDevice> dev_[2];
};

TEST_F(MttyLocalMigrationTest, MigrateLocallyCarriesTheUartFifo) {
  ASSERT_TRUE(MttyWriteFifo(dev_[0]->fd(), "vmigd:mtty-0").ok());
  absl::StatusOr<LocalMigrationResult> r = MigrateLocally(*dev_[0], *dev_[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->precopy_bytes, 0u);  // mtty's header goes in pre-copy
  EXPECT_GT(r->stopcopy_bytes, 0u);
  EXPECT_EQ(*dev_[0]->GetState(), S::kStop);
  EXPECT_EQ(*dev_[1]->GetState(), S::kRunning);
  EXPECT_EQ(*MttyDrainFifo(dev_[1]->fd()), "vmigd:mtty-0");
}

// As a VMM would: it keeps the device and hands vmigd a copy of its fd.
TEST_F(MttyLocalMigrationTest, FromAnFdHandedOverByAVmm) {
  ASSERT_TRUE(MttyWriteFifo(dev_[0]->fd(), "handed-over").ok());
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd vmm(sv[0]), vmigd(sv[1]);
  ASSERT_TRUE(SendDeviceFd(vmm.get(), mdevs_[0].first, dev_[0]->fd()).ok());
  absl::StatusOr<ReceivedFd> got = ReceiveDeviceFd(vmigd.get());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, mdevs_[0].first);
  ASSERT_TRUE(CheckVfioDeviceFd(got->fd.get()).ok());
  KernelDevice handed(got->name, SysFd(Syscalls::Real(), got->fd.release()),
                      Syscalls::Real());
  absl::StatusOr<LocalMigrationResult> r = MigrateLocally(handed, *dev_[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  // The VMM's own fd sees what vmigd did.
  EXPECT_EQ(*dev_[0]->GetState(), S::kStop);
  EXPECT_EQ(*MttyDrainFifo(dev_[1]->fd()), "handed-over");
}

// The first law on a real device: a stream that loses a chunk fails the
// load, and the source runs again with its state.
TEST_F(MttyLocalMigrationTest, ALostChunkLeavesTheSourceRunningWithItsFifo) {
  ASSERT_TRUE(MttyWriteFifo(dev_[0]->fd(), "keep-me").ok());
  LocalMigrationOptions opts;
  int chunks = 0;
  opts.chunk_filter = [&chunks](uint64_t, absl::Span<uint8_t>) {
    return chunks++ == 0;  // pre-copy's header passes, the ports' state not
  };
  absl::StatusOr<LocalMigrationResult> r =
      MigrateLocally(*dev_[0], *dev_[1], opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(*dev_[0]->GetState(), S::kRunning);
  EXPECT_EQ(*MttyDrainFifo(dev_[0]->fd()), "keep-me");
  EXPECT_EQ(*dev_[1]->GetState(), S::kRunning);  // reset, holding nothing
  EXPECT_EQ(*MttyDrainFifo(dev_[1]->fd()), "");
}

}  // namespace
}  // namespace vmig::vfio::kernel
