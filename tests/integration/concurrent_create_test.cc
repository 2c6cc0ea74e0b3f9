// Create calls that race against one real daemon: a session id and the
// session limit hold under concurrency, and no device stays claimed.
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/process.h"
#include "vmig/v1/device.grpc.pb.h"
#include "vmig/v1/migration.grpc.pb.h"

namespace vmig::testing {
namespace {

CommandResult Ctl(const Daemon& d, std::vector<std::string> args) {
  args.insert(args.begin(), {BinaryPath("cli/vmigctl"), "--addr", d.address()});
  return RunCommand(args);
}

grpc::ClientContext* Ctx(grpc::ClientContext& c) {
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return &c;
}

// Create calls that race: a session id is reserved when a call is admitted,
// so of 8 identical PrepareIncoming exactly one succeeds, of 8 with distinct
// ids against max_sessions 4 exactly 4 do, and no device stays claimed by a
// call that lost.
TEST(ConcurrentCreateTest, ASessionIdAndTheSessionLimitHoldUnderConcurrency) {
  TempDir dir;
  std::string config =
      "listen { unix_socket: \"" + dir.path() +
      "/c.sock\" }\n"
      "limits { max_sessions: 4 }\n"
      "dataplane { lcores: \"1\" main_lcore: 0 ports { name: \"p\" memif: "
      "\"role=server,socket=" +
      dir.path() + "/memif.sock,socket-abstract=no\" } }\n";
  for (int i = 0; i < 8; ++i) {
    config += "devices { device_id: \"d" + std::to_string(i) +
              "\" emulated_spec: \"emu:state=1MiB\" }\n";
  }
  Daemon d(dir, "c", config);
  ASSERT_TRUE(d.WaitReady()) << d.log();
  auto stub = v1::MigrationService::NewStub(d.Channel());
  auto race = [&](const std::function<v1::PrepareIncomingRequest(int)>& req) {
    std::vector<grpc::Status> out(8);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        grpc::ClientContext c;
        v1::Session s;
        out[i] = stub->PrepareIncoming(Ctx(c), req(i), &s);
      });
    }
    for (auto& t : threads) t.join();
    return out;
  };
  auto count = [](const std::vector<grpc::Status>& v, grpc::StatusCode code) {
    return std::count_if(v.begin(), v.end(), [&](const grpc::Status& s) {
      return s.error_code() == code;
    });
  };
  // One id, one device each: one wins, the others find the id taken.
  std::vector<grpc::Status> same = race([](int i) {
    v1::PrepareIncomingRequest r;
    r.set_session_id("same");
    r.add_devices("d" + std::to_string(i));
    return r;
  });
  EXPECT_EQ(count(same, grpc::StatusCode::OK), 1);
  EXPECT_EQ(count(same, grpc::StatusCode::ALREADY_EXISTS), 7);
  EXPECT_EQ(Ctl(d, {"migrate", "cancel", "same"}).exit_code, 0);
  // Distinct ids against a limit of 4.
  std::vector<grpc::Status> many = race([](int i) {
    v1::PrepareIncomingRequest r;
    r.set_session_id("s" + std::to_string(i));
    r.add_devices("d" + std::to_string(i));
    return r;
  });
  EXPECT_EQ(count(many, grpc::StatusCode::OK), 4);
  EXPECT_EQ(count(many, grpc::StatusCode::RESOURCE_EXHAUSTED), 4);
  // Only the admitted sessions hold devices; cancelled, they hold none.
  auto devices = v1::DeviceService::NewStub(d.Channel());
  auto claimed = [&] {
    grpc::ClientContext c;
    v1::ListDevicesResponse r;
    EXPECT_TRUE(devices->ListDevices(Ctx(c), {}, &r).ok());
    int n = 0;
    for (const auto& dev : r.devices()) n += !dev.session().empty();
    return n;
  };
  EXPECT_EQ(claimed(), 4);
  for (int i = 0; i < 8; ++i) {
    if (many[i].ok()) {
      EXPECT_EQ(
          Ctl(d, {"migrate", "cancel", "s" + std::to_string(i)}).exit_code, 0);
    }
  }
  EXPECT_EQ(claimed(), 0);
}

}  // namespace
}  // namespace vmig::testing
