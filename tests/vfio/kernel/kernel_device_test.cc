// The kernel backend against a fake VFIO kernel: the ioctls it issues, the
// layouts and argsz it passes, and every errno path it must handle.
#include "vfio/kernel/kernel_device.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "gtest/gtest.h"
#include "tests/vfio/kernel/fake_vfio_kernel.h"
#include "vfio/kernel/device_open.h"
#include "vfio/uapi.h"

namespace vmig::vfio::kernel {
namespace {

using S = DeviceState;
constexpr char kCdev[] = "/dev/vfio/devices/vfio0";
constexpr char kGroup[] = "/dev/vfio/42";
constexpr char kPci[] = "0000:3b:00.1";

class KernelDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override { fake_.AddDevice(kCdev, kGroup, kPci); }
  FakeVfioKernel::Device& dev() { return fake_.device(kCdev); }
  std::unique_ptr<KernelDevice> Direct() {
    return std::make_unique<KernelDevice>(
        "vf0", SysFd(fake_, fake_.OpenDeviceDirect(kCdev)), fake_);
  }
  FakeVfioKernel fake_;
};

TEST_F(KernelDeviceTest, ReadsFlagsAndState) {
  auto d = Direct();
  EXPECT_EQ(d->GetMigrationFlags()->bits(), 7u);
  EXPECT_EQ(*d->GetState(), S::kRunning);
  dev().flags = kMigStopCopy | kMigP2P;
  EXPECT_EQ(d->GetMigrationFlags()->bits(), 3u);
  dev().flags = kMigP2P;  // not a valid set: the backend refuses it
  EXPECT_EQ(d->GetMigrationFlags().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(KernelDeviceTest, NoMigrationSupportIsEnotty) {
  dev().migration = false;
  auto d = Direct();
  auto f = d->GetMigrationFlags();
  EXPECT_EQ(f.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(f.status().message().find("no migration support"),
            absl::string_view::npos);
}

TEST_F(KernelDeviceTest, SetStateWalksTheKernelPathAndReturnsTheDataFd) {
  auto d = Direct();
  auto s = d->SetState(S::kStopCopy);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_NE(*s, nullptr);
  std::vector<S> want = {S::kRunningP2P, S::kStop, S::kStopCopy};
  EXPECT_EQ(dev().arcs, want);
  EXPECT_EQ((*s)->ready_events(), POLLIN);
  // No session for arcs that open none.
  auto none = d->SetState(S::kStop);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
}

TEST_F(KernelDeviceTest, RefusedTransitionIsEinvalAndSaysWhereTheDeviceIs) {
  auto d = Direct();
  ASSERT_TRUE(d->SetState(S::kStopCopy).ok());
  auto r = d->SetState(S::kPreCopy);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("device is now STOP_COPY"),
            absl::string_view::npos)
      << r.status();
}

TEST_F(KernelDeviceTest, FailedArcReportsErrorStateAndResetRecovers) {
  dev().fail_arc = {{S::kPreCopyP2P, S::kStopCopy}};
  auto d = Direct();
  ASSERT_TRUE(d->SetState(S::kPreCopyP2P).ok());
  auto r = d->SetState(S::kStopCopy);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("device is now ERROR"),
            absl::string_view::npos);
  EXPECT_EQ(*d->GetState(), S::kError);
  ASSERT_TRUE(d->Reset().ok());
  EXPECT_EQ(dev().resets, 1);
  EXPECT_EQ(*d->GetState(), S::kRunning);
}

TEST_F(KernelDeviceTest, ReadOutcomesStayDistinct) {
  dev().precopy_data = std::string(3000, 'p');
  dev().stopcopy_data = std::string(100, 's');
  dev().eintr_reads = 2;
  auto d = Direct();
  auto s = d->SetState(S::kPreCopy);
  ASSERT_TRUE(s.ok() && *s);
  std::vector<uint8_t> buf(2048);
  auto r = (*s)->Read(absl::MakeSpan(buf));  // EINTR twice, retried
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, ReadOutcome::kData);
  EXPECT_EQ(r->bytes, 2048u);
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->bytes, 952u);
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->outcome,
            ReadOutcome::kNoMoreForNow);  // ENOMSG
  // EAGAIN on a non-blocking fd.
  ASSERT_TRUE((*s)->SetNonBlocking(true).ok());
  EXPECT_TRUE(fake_.data_fd_flags((*s)->poll_fd()) & O_NONBLOCK);
  dev().eagain_reads = 1;
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->outcome, ReadOutcome::kWouldBlock);
  ASSERT_TRUE((*s)->SetNonBlocking(false).ok());
  EXPECT_FALSE(fake_.data_fd_flags((*s)->poll_fd()) & O_NONBLOCK);
  // The same fd carries on into STOP_COPY, then ends with 0.
  auto none = d->SetState(S::kStopCopy);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->bytes, 100u);
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->outcome,
            ReadOutcome::kEndOfStream);
  // Leaving the saving group kills the fd: a real error, not an outcome.
  ASSERT_TRUE(d->SetState(S::kStop).ok());
  EXPECT_FALSE((*s)->Read(absl::MakeSpan(buf)).ok());
}

// The mtty sample driver (Linux 6.7+) returns 0, not ENOMSG, once pre-copy
// has caught up: read as the end of the stream, it would end a pre-copy
// that has a stop-copy still to come.
TEST_F(KernelDeviceTest, AZeroReadInPreCopyIsNoMoreForNowNotTheEnd) {
  dev().precopy_data = std::string(24, 'h');
  dev().stopcopy_data = std::string(40, 's');
  dev().precopy_caught_up_reads_zero = true;
  auto d = Direct();
  auto s = d->SetState(S::kPreCopy);
  ASSERT_TRUE(s.ok() && *s);
  std::vector<uint8_t> buf(64);
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->bytes, 24u);
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->outcome,
            ReadOutcome::kNoMoreForNow);
  ASSERT_TRUE(d->SetState(S::kPreCopyP2P).ok());
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->outcome,
            ReadOutcome::kNoMoreForNow);
  ASSERT_TRUE(d->SetState(S::kStopCopy).ok());
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->bytes, 40u);
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->outcome,
            ReadOutcome::kEndOfStream);
}

TEST_F(KernelDeviceTest, PrecopyInfoLayoutStateRuleAndReinitOptIn) {
  dev().initial_bytes = 1000;
  dev().dirty_bytes = 24;
  dev().raise_reinit = true;
  auto d = Direct();
  auto s = d->SetState(S::kPreCopy);
  ASSERT_TRUE(s.ok() && *s);
  auto info = (*s)->GetPrecopyInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->initial_bytes, 1000u);
  EXPECT_EQ(info->dirty_bytes, 24u);
  EXPECT_FALSE(info->reinit);  // flags ignored without the v2 opt-in
  ASSERT_TRUE(d->EnablePrecopyInfoV2().ok());
  EXPECT_TRUE(dev().precopy_v2);
  EXPECT_TRUE((*s)->GetPrecopyInfo()->reinit);
  ASSERT_TRUE(d->SetState(S::kPreCopyP2P).ok());
  EXPECT_TRUE((*s)->GetPrecopyInfo().ok());  // valid in PRE_COPY_P2P too
  ASSERT_TRUE(d->SetState(S::kStopCopy).ok());
  EXPECT_EQ((*s)->GetPrecopyInfo().status().code(),
            absl::StatusCode::kInvalidArgument);  // EINVAL outside PRE_COPY*
}

TEST_F(KernelDeviceTest, StopCopyLengthAndFeatureOps) {
  dev().stop_copy_length = 123456789;
  auto d = Direct();
  EXPECT_EQ(*d->GetStopCopyLength(), 123456789u);
  // The ioctl numbers the backend used are the uAPI's.
  EXPECT_EQ(fake_.ioctls.back().second, 0x3B75u);
}

TEST_F(KernelDeviceTest, ResumingWritesHandleShortWritesAndEintr) {
  dev().max_write = 1000;
  dev().eintr_writes = 1;
  auto d = Direct();
  auto s = d->SetState(S::kResuming);
  ASSERT_TRUE(s.ok() && *s);
  EXPECT_EQ((*s)->ready_events(), POLLOUT);
  std::string data(4500, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  auto n = (*s)->Write(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1000u);  // a short write is reported as such
  ASSERT_TRUE(
      WriteAll(**s, absl::MakeConstSpan(
                        reinterpret_cast<const uint8_t*>(data.data()) + 1000,
                        data.size() - 1000))
          .ok());
  EXPECT_EQ(dev().resumed, data);
  EXPECT_TRUE(d->SetState(S::kRunning).ok());
}

TEST_F(KernelDeviceTest, OpensThroughCdevAndIommufd) {
  auto d = OpenCdevDevice("vf0", kCdev, fake_);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*(*d)->GetState(), S::kRunning);
  EXPECT_EQ(fake_.open_fds(), 2);  // the device and its iommufd
  d->reset();
  EXPECT_EQ(fake_.open_fds(), 0);
  EXPECT_FALSE(OpenCdevDevice("x", "/dev/vfio/devices/vfio9", fake_).ok());
  EXPECT_EQ(fake_.open_fds(), 0);  // nothing leaks on failure
}

TEST_F(KernelDeviceTest, OpensThroughALegacyGroup) {
  auto d = OpenGroupDevice("vf0", kGroup, kPci, fake_);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*(*d)->GetState(), S::kRunning);
  EXPECT_EQ(fake_.open_fds(), 3);  // container, group, device
  d->reset();
  EXPECT_EQ(fake_.open_fds(), 0);
  auto wrong = OpenGroupDevice("vf0", kGroup, "0000:00:00.0", fake_);
  EXPECT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("VFIO_GROUP_GET_DEVICE_FD"),
            absl::string_view::npos);
  EXPECT_EQ(fake_.open_fds(), 0);
}

TEST(DeviceFdHandoverTest, ReceivesOneFdWithItsNameOverScmRights) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  UniqueFd ev(eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(SendDeviceFd(a.get(), "nic0", ev.get()).ok());
  auto got = ReceiveDeviceFd(b.get());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "nic0");
  // The same open file, not a copy: a write on one is seen on the other.
  uint64_t one = 1, out = 0;
  ASSERT_EQ(write(ev.get(), &one, 8), 8);
  ASSERT_EQ(read(got->fd.get(), &out, 8), 8);
  EXPECT_EQ(out, 1u);
}

TEST(DeviceFdHandoverTest, RefusesMessagesWithoutExactlyOneFd) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_EQ(send(a.get(), "nofd", 4, 0), 4);
  auto got = ReceiveDeviceFd(b.get());
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("0 fds"), absl::string_view::npos);
}

// A socket that accepts and never sends: the wait for the fd is bounded
// and the error says so.
TEST(DeviceFdHandoverTest, ASocketThatNeverSendsIsGivenUpOn) {
  const std::string path = ::testing::TempDir() + "/silent_vmm.sock";
  ::unlink(path.c_str());
  UniqueFd listener(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(
      ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
      0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);  // accepted by the kernel
  auto got = ReceiveDeviceFdFrom(path, absl::Milliseconds(200));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(got.status().message().find("no device fd arrived"),
            absl::string_view::npos)
      << got.status();
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace vmig::vfio::kernel
