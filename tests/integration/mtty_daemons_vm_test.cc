// Two vmigd daemons migrate real VFIO devices: mtty mdevs of the kernel-test
// VM (scripts/kernel-test.sh runs this binary there; nowhere else has
// them). The test plays the VMM on both hosts: it opens each mdev, fills
// its UART FIFO, and hands the device fd to the daemon over SCM_RIGHTS, as
// a VMM would; it keeps its own fd, through which it checks the states and
// the FIFOs afterwards.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>
#include <cstring>

#include "tests/integration/migration_fixture.h"
#include "tests/vfio/kernel/mtty_uart.h"
#include "vfio/kernel/device_open.h"
#include "vfio/kernel/kernel_device.h"

namespace vmig::testing {
namespace {

using vfio::DeviceState;
using vfio::kernel::KernelDevice;

// Serves one device fd on a new Unix socket, once, as a VMM hands its
// device over; gives up after 60 s.
class FdServer {
 public:
  FdServer(const std::string& path, const std::string& name, int fd) {
    sock_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ok_ = sock_.valid() &&
          ::bind(sock_.get(), reinterpret_cast<sockaddr*>(&addr),
                 sizeof(addr)) == 0 &&
          ::listen(sock_.get(), 1) == 0;
    thread_ = std::thread([this, name, fd] {
      pollfd p = {.fd = sock_.get(), .events = POLLIN, .revents = 0};
      if (!ok_ || ::poll(&p, 1, 60000) != 1) return;
      UniqueFd conn(::accept4(sock_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (conn.valid())
        sent_ = vfio::kernel::SendDeviceFd(conn.get(), name, fd).ok();
    });
  }
  ~FdServer() { thread_.join(); }
  bool sent() const { return sent_; }

 private:
  UniqueFd sock_;
  bool ok_ = false;
  std::atomic<bool> sent_{false};
  std::thread thread_;
};

class MttyDaemonsTest : public MigrationTest {
 protected:
  static constexpr int kDevices = 4;  // per host; the VM makes nine

  void SetUp() override {
    const char* list = std::getenv("VMIG_MDEVS_FILE");
    mdevs_ = vfio::kernel::ReadMdevList(list ? list : "/tmp/job/mdevs");
    ASSERT_GE(mdevs_.size(), 2u * kDevices)
        << "no mtty mdevs: this test runs in the kernel-test VM";
    for (size_t i = 0; i < 2 * kDevices; ++i) {
      auto d = vfio::kernel::OpenGroupDevice(mdevs_[i].first, mdevs_[i].second,
                                             mdevs_[i].first,
                                             vfio::kernel::Syscalls::Real());
      ASSERT_TRUE(d.ok()) << d.status();
      vmm_.push_back(std::move(*d));
      ASSERT_TRUE(vmm_.back()->Reset().ok());
      ASSERT_TRUE(vfio::kernel::MttyDrainFifo(vmm_.back()->fd()).ok());
    }
  }
  // The daemons (memif, --no-huge in the VM), with `emulated` devices from
  // their configurations, then the mtty devices handed over: tty0..3, the
  // source's FIFOs filled with Text(i).
  void StartWithMttys(const std::vector<DeviceSpec>& emulated = {}) {
    ASSERT_NO_FATAL_FAILURE(StartDaemons(emulated));
    for (int i = 0; i < kDevices; ++i) {
      const std::string id = "tty" + std::to_string(i);
      ASSERT_TRUE(vfio::kernel::MttyWriteFifo(Src(i).fd(), Text(i)).ok());
      ASSERT_NO_FATAL_FAILURE(Attach(*src_dev_, id, Src(i)));
      ASSERT_NO_FATAL_FAILURE(Attach(*dst_dev_, id, Dst(i)));
      devs_.push_back({id, "", ""});
    }
  }
  void Attach(v1::DeviceService::Stub& stub, const std::string& id,
              KernelDevice& dev) {
    const std::string path =
        dir_.path() + "/vmm-" + std::to_string(dev.fd()) + ".sock";
    FdServer vmm(path, dev.name(), dev.fd());
    v1::AttachDeviceRequest req;
    req.set_device_id(id);
    req.set_fd_socket(path);
    grpc::ClientContext c;
    v1::Device d;
    grpc::Status s = stub.AttachDevice(Ctx(c), req, &d);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(d.backend(), v1::BACKEND_KERNEL);
    EXPECT_EQ(d.state(), v1::DEVICE_STATE_RUNNING);
  }
  static std::string Text(int i) {
    return "mtty" + std::to_string(i) + "-fifo";
  }
  KernelDevice& Src(int i) { return *vmm_[i]; }
  KernelDevice& Dst(int i) { return *vmm_[kDevices + i]; }

  // The first law, seen by the VMM: the source devices run with their
  // FIFOs as they were; the destination's were returned to RUNNING (a
  // reset: idle, no VM runs there).
  void ExpectTheSourceRunsWithItsFifos() {
    for (int i = 0; i < kDevices; ++i) {
      EXPECT_EQ(*Src(i).GetState(), DeviceState::kRunning) << i;
      EXPECT_EQ(*vfio::kernel::MttyDrainFifo(Src(i).fd()), Text(i)) << i;
      EXPECT_EQ(*Dst(i).GetState(), DeviceState::kRunning) << i;
    }
  }

  std::vector<std::pair<std::string, std::string>> mdevs_;
  std::vector<std::unique_ptr<KernelDevice>> vmm_;
};

TEST_F(MttyDaemonsTest, FourRealDevicesMigrateInLockstepWithTheirFifos) {
  ASSERT_NO_FATAL_FAILURE(StartWithMttys());
  ASSERT_TRUE(Prepare("m1").ok());
  grpc::Status st = Start("m1", kRoomyBudgetMs);
  ASSERT_TRUE(st.ok()) << st.error_message();
  v1::Session s = WaitEnd(*src_mig_, "m1");
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error() << "\n"
                                            << source_->log();
  EXPECT_EQ(WaitEnd(*dst_mig_, "m1").phase(), v1::PHASE_COMPLETED);
  EXPECT_TRUE(s.report().budget_met());
  // The real devices' requests, as both daemons logged them.
  ExpectLockstep(dir_.path() + "/a.arcs", dir_.path() + "/b.arcs", kDevices);
  for (int i = 0; i < kDevices; ++i) {
    EXPECT_EQ(*Src(i).GetState(), DeviceState::kStop) << i;
    EXPECT_EQ(*Dst(i).GetState(), DeviceState::kRunning) << i;
    EXPECT_EQ(*vfio::kernel::MttyDrainFifo(Dst(i).fd()), Text(i)) << i;
  }
}

TEST_F(MttyDaemonsTest, ACancelInPreCopyLeavesTheRealDevicesRunning) {
  ASSERT_NO_FATAL_FAILURE(StartWithMttys());
  ASSERT_NO_FATAL_FAILURE(StartManualUntilReady("c1"));
  v1::Session s;
  ASSERT_TRUE(CancelOnSource("c1", &s).ok());
  EXPECT_EQ(WaitEnd(*src_mig_, "c1").phase(), v1::PHASE_CANCELLED);
  EXPECT_EQ(WaitEnd(*dst_mig_, "c1").phase(), v1::PHASE_FAILED);
  ExpectTheSourceRunsWithItsFifos();
}

// Stop-copy on mtty lasts microseconds: an emulated device without
// PRE_COPY, read at 8 MiB/s, keeps the session in stop-copy for seconds,
// with the real devices stopped beside it in lockstep.
std::vector<DeviceSpec> ASlowCompanion() {
  return {{"slow", "emu:state=16MiB,read_bw=8MiB/s,flags=stop_copy|p2p",
           "emu:state=16MiB,flags=stop_copy|p2p"}};
}

TEST_F(MttyDaemonsTest, ACancelInStopCopyLeavesTheRealDevicesRunning) {
  ASSERT_NO_FATAL_FAILURE(StartWithMttys(ASlowCompanion()));
  ASSERT_TRUE(Prepare("s1").ok());
  ASSERT_TRUE(Start("s1", 60000).ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "s1", {v1::PHASE_STOPCOPY}).phase(),
            v1::PHASE_STOPCOPY);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  v1::Session s;
  ASSERT_TRUE(CancelOnSource("s1", &s).ok());
  EXPECT_EQ(WaitEnd(*src_mig_, "s1").phase(), v1::PHASE_CANCELLED);
  ExpectTheSourceRunsWithItsFifos();
}

TEST_F(MttyDaemonsTest, ADestinationKilledMidStopCopyLeavesTheSourceRunning) {
  ASSERT_NO_FATAL_FAILURE(StartWithMttys(ASlowCompanion()));
  ASSERT_TRUE(Prepare("k1").ok());
  ASSERT_TRUE(Start("k1", 60000).ok());
  ASSERT_EQ(WaitPhase(*src_mig_, "k1", {v1::PHASE_STOPCOPY}).phase(),
            v1::PHASE_STOPCOPY);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  dest_->Kill();
  v1::Session s = WaitEnd(*src_mig_, "k1");
  EXPECT_EQ(s.phase(), v1::PHASE_FAILED);
  EXPECT_FALSE(s.error().empty());
  // The destination's devices were left where the kill found them (the
  // daemon could not end them); the source's must run with their state.
  for (int i = 0; i < kDevices; ++i) {
    EXPECT_EQ(*Src(i).GetState(), DeviceState::kRunning) << i;
    EXPECT_EQ(*vfio::kernel::MttyDrainFifo(Src(i).fd()), Text(i)) << i;
  }
}

// The daemon opens an mdev itself, through its legacy group and the
// kernel's name for it in the group (its UUID, not a PCI address). The
// ninth mdev: the test holds none of its fds (a group opens once).
TEST_F(MttyDaemonsTest, AnMdevAttachesThroughItsGroupByItsUuid) {
  ASSERT_GE(mdevs_.size(), 2u * kDevices + 1);
  const auto& [uuid, group] = mdevs_[2 * kDevices];
  ASSERT_NO_FATAL_FAILURE(StartDaemons({}));
  v1::AttachDeviceRequest req;
  req.set_device_id("bygroup");
  req.mutable_kernel()->set_group(group);
  req.mutable_kernel()->set_device_name(uuid);
  grpc::ClientContext c;
  v1::Device d;
  grpc::Status s = src_dev_->AttachDevice(Ctx(c), req, &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(d.backend(), v1::BACKEND_KERNEL);
  EXPECT_EQ(d.state(), v1::DEVICE_STATE_RUNNING);
  EXPECT_TRUE(d.flags().stop_copy() && d.flags().p2p() && d.flags().pre_copy())
      << d.DebugString();
  EXPECT_GT(d.stop_copy_length(), 0u);  // MIG_DATA_SIZE
  // Its class, from sysfs: the mdev's type, what another host's mtty
  // device of the type shares (calibration, history across the pair).
  EXPECT_EQ(d.device_class().rfind("kernel:mdev:mtty-", 0), 0u)
      << d.device_class();
  // Detached, the group is free again; a name it does not hold is
  // refused, naming it.
  v1::DetachDeviceRequest detach;
  detach.set_name("devices/bygroup");
  grpc::ClientContext c2;
  v1::DetachDeviceResponse detached;
  ASSERT_TRUE(src_dev_->DetachDevice(Ctx(c2), detach, &detached).ok());
  v1::AttachDeviceRequest wrong = req;
  wrong.set_device_id("wrong");
  wrong.mutable_kernel()->set_device_name("0000:00:01.0");
  grpc::ClientContext c3;
  s = src_dev_->AttachDevice(Ctx(c3), wrong, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("0000:00:01.0"), std::string::npos)
      << s.error_message();
  // The right name opens it again.
  grpc::ClientContext c4;
  EXPECT_TRUE(src_dev_->AttachDevice(Ctx(c4), req, &d).ok());
}

}  // namespace
}  // namespace vmig::testing
