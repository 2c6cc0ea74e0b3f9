// Hostile requests to a real daemon, each answered with the right code and
// a bounded message naming the field, and nothing left behind: fail_arc on
// an arc the FSM never takes, ids and specs of hundreds of kilobytes, an
// absurd emulated size, PrepareIncoming where no data plane or no such
// port is.
#include <string>

#include "gtest/gtest.h"
#include "tests/integration/process.h"
#include "vmig/v1/device.grpc.pb.h"
#include "vmig/v1/migration.grpc.pb.h"

namespace vmig::testing {
namespace {

class HostileRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string d = dir_.path();
    with_ = std::make_unique<Daemon>(
        dir_, "w",
        "listen { unix_socket: \"" + d +
            "/w.sock\" }\n"
            "devices { device_id: \"d0\" emulated_spec: \"emu:state=1MiB\" }\n"
            "dataplane { lcores: \"1\" main_lcore: 0 ports { name: \"p\" "
            "memif: \"role=server,socket=" +
            d + "/memif.sock,socket-abstract=no\" } }\n");
    without_ = std::make_unique<Daemon>(
        dir_, "n",
        "listen { unix_socket: \"" + d +
            "/n.sock\" }\n"
            "devices { device_id: \"d0\" emulated_spec: \"emu:state=1MiB\" "
            "}\n");
    ASSERT_TRUE(with_->WaitReady()) << with_->log();
    ASSERT_TRUE(without_->WaitReady()) << without_->log();
    devices_ = v1::DeviceService::NewStub(with_->Channel());
  }
  static grpc::ClientContext* Ctx(grpc::ClientContext& c) {
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return &c;
  }
  grpc::Status Attach(const std::string& id, const std::string& spec) {
    v1::AttachDeviceRequest req;
    req.set_device_id(id);
    req.set_emulated_spec(spec);
    v1::Device out;
    grpc::ClientContext c;
    return devices_->AttachDevice(Ctx(c), req, &out);
  }
  int DeviceCount() {
    v1::ListDevicesResponse r;
    grpc::ClientContext c;
    EXPECT_TRUE(devices_->ListDevices(Ctx(c), {}, &r).ok());
    return r.devices_size();
  }
  // The right code, a message naming `field`, and no echo of the input.
  static void ExpectRefused(const grpc::Status& s, grpc::StatusCode code,
                            const std::string& field, const std::string& why) {
    EXPECT_EQ(s.error_code(), code) << why << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(field), std::string::npos)
        << why << ": " << s.error_message().substr(0, 300);
    EXPECT_LT(s.error_message().size(), 1024u) << why;
  }

  TempDir dir_;
  std::unique_ptr<Daemon> with_, without_;
  std::unique_ptr<v1::DeviceService::Stub> devices_;
};

TEST_F(HostileRequestTest, AFailArcTheFsmNeverTakesIsRefused) {
  // RUNNING never goes straight to RESUMING, nor STOP_COPY to PRE_COPY.
  for (const char* arc : {"RUNNING>RESUMING", "STOP_COPY>PRE_COPY",
                          "ERROR>RUNNING", "RUNNING>RUNNING"}) {
    ExpectRefused(Attach("x", std::string("emu:fail_arc=") + arc),
                  grpc::StatusCode::INVALID_ARGUMENT, "fail_arc", arc);
  }
  // One it takes is fine.
  EXPECT_TRUE(
      Attach("x", "emu:flags=stop_copy|p2p,fail_arc=RUNNING>RUNNING_P2P").ok());
}

TEST_F(HostileRequestTest, HugeIdsAndSpecsAreRefusedWithoutEchoingThem) {
  for (size_t n : {100u << 10, 1u << 20, 3u << 20}) {
    const std::string big(n, 'a');
    ExpectRefused(Attach(big, "emu:"), grpc::StatusCode::INVALID_ARGUMENT,
                  "device_id", "id of " + std::to_string(n));
    ExpectRefused(Attach("ok1", "emu:" + big),
                  grpc::StatusCode::INVALID_ARGUMENT, "emulated_spec",
                  "spec of " + std::to_string(n));
    ExpectRefused(Attach("ok1", "emu:name=" + big),
                  grpc::StatusCode::INVALID_ARGUMENT, "emulated_spec",
                  "name of " + std::to_string(n));
  }
  EXPECT_EQ(DeviceCount(), 1);
}

TEST_F(HostileRequestTest, AnAbsurdEmulatedSizeIsRefusedAndLeavesNoDevice) {
  for (const char* spec :
       {"emu:state=1000000TiB", "emu:state=16EiB", "emu:state=1TiB,block=1",
        "emu:block=0", "emu:state=99999999999999999999999"}) {
    grpc::Status s = Attach("huge", spec);
    EXPECT_TRUE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << spec << ": " << s.error_code() << " " << s.error_message();
    EXPECT_NE(s.error_message().find("emulated_spec"), std::string::npos)
        << spec << ": " << s.error_message();
    EXPECT_EQ(DeviceCount(), 1) << spec << " left a device behind";
  }
  // The id is free: nothing half-attached holds it.
  EXPECT_TRUE(Attach("huge", "emu:state=1MiB").ok());
}

TEST_F(HostileRequestTest, PrepareIncomingNeedsADataPlaneAndAPortThatExists) {
  v1::PrepareIncomingRequest req;
  req.set_session_id("s1");
  req.add_devices("d0");
  v1::Session out;
  {
    auto m = v1::MigrationService::NewStub(without_->Channel());
    grpc::ClientContext c;
    ExpectRefused(m->PrepareIncoming(Ctx(c), req, &out),
                  grpc::StatusCode::FAILED_PRECONDITION, "data plane",
                  "no data plane");
  }
  auto m = v1::MigrationService::NewStub(with_->Channel());
  req.set_data_endpoint("nosuchport");
  grpc::ClientContext c;
  ExpectRefused(m->PrepareIncoming(Ctx(c), req, &out),
                grpc::StatusCode::INVALID_ARGUMENT, "data_endpoint",
                "unknown port");
  // Neither claimed the device.
  v1::ListDevicesResponse r;
  grpc::ClientContext c2;
  ASSERT_TRUE(devices_->ListDevices(Ctx(c2), {}, &r).ok());
  ASSERT_EQ(r.devices_size(), 1);
  EXPECT_EQ(r.devices(0).session(), "");
  EXPECT_EQ(r.devices(0).state(), v1::DEVICE_STATE_RUNNING);
}

}  // namespace
}  // namespace vmig::testing
