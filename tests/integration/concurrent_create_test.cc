// Create calls that race against one real daemon: a session id and the
// session limit hold under concurrency, and no device stays claimed.
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/process.h"
#include "vmig/v1/device.grpc.pb.h"
#include "vmig/v1/migration.grpc.pb.h"

namespace vmig::testing {
namespace {

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

// A control plane retries a create call whose answer it lost: the same
// request_id returns the session the first call made; another request for
// the taken id gets ALREADY_EXISTS.
TEST(RetriedCreateTest, TheSameRequestIdReturnsTheSameSession) {
  TempDir dir;
  const std::string config =
      "listen { unix_socket: \"" + dir.path() +
      "/r.sock\" }\n"
      "dataplane { lcores: \"1\" main_lcore: 0 ports { name: \"p\" memif: "
      "\"role=server,socket=" +
      dir.path() +
      "/memif.sock,socket-abstract=no\" } }\n"
      "devices { device_id: \"d0\" emulated_spec: \"emu:state=1MiB\" }\n";
  Daemon d(dir, "r", config);
  ASSERT_TRUE(d.WaitReady()) << d.log();
  auto stub = v1::MigrationService::NewStub(d.Channel());
  auto prepare = [&](const std::string& request_id, v1::Session* out) {
    v1::PrepareIncomingRequest req;
    req.set_session_id("once");
    req.add_devices("d0");
    req.set_request_id(request_id);
    grpc::ClientContext c;
    return stub->PrepareIncoming(Ctx(c), req, out);
  };
  v1::Session first, again, other;
  ASSERT_TRUE(prepare("req-1", &first).ok());
  grpc::Status s = prepare("req-1", &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.name(), first.name());
  EXPECT_EQ(again.create_time().seconds(), first.create_time().seconds());
  EXPECT_EQ(again.create_time().nanos(), first.create_time().nanos());
  EXPECT_EQ(prepare("req-2", &other).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(prepare("", &other).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(prepare("bad id!", &other).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // The same through vmigctl, as an operator's script would retry.
  for (int i = 0; i < 2; ++i) {
    CommandResult r = Ctl(d, {"migrate", "prepare", "once", "--device", "d0",
                              "--request-id", "req-1"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  CommandResult other_id = Ctl(d, {"migrate", "prepare", "once", "--device",
                                   "d0", "--request-id", "req-9"});
  EXPECT_NE(other_id.exit_code, 0);
  EXPECT_NE(other_id.err.find("already exists"), std::string::npos)
      << other_id.err;
  v1::ListSessionsResponse all;
  grpc::ClientContext c;
  ASSERT_TRUE(stub->ListSessions(Ctx(c), v1::ListSessionsRequest(), &all).ok());
  EXPECT_EQ(all.sessions_size(), 1);
}

// Finished sessions are kept up to limits.max_sessions, and the one that
// ended longest ago goes first, whatever its name: "zzz" ended before
// "aaa", so a new session evicts "zzz" and a control plane can still read
// the session that just ended.
TEST(FinishedSessionsTest, TheOneThatEndedLongestAgoIsEvictedFirst) {
  TempDir dir;
  std::string config =
      "listen { unix_socket: \"" + dir.path() +
      "/e.sock\" }\n"
      "limits { max_sessions: 2 }\n"
      "dataplane { lcores: \"1\" main_lcore: 0 ports { name: \"p\" memif: "
      "\"role=server,socket=" +
      dir.path() + "/memif.sock,socket-abstract=no\" } }\n";
  for (int i = 0; i < 3; ++i) {
    config += "devices { device_id: \"d" + std::to_string(i) +
              "\" emulated_spec: \"emu:state=1MiB\" }\n";
  }
  Daemon d(dir, "e", config);
  ASSERT_TRUE(d.WaitReady()) << d.log();
  auto prepare_and_cancel = [&](const std::string& id,
                                const std::string& device) {
    CommandResult p = Ctl(d, {"migrate", "prepare", id, "--device", device});
    ASSERT_EQ(p.exit_code, 0) << p.out << p.err;
    CommandResult c = Ctl(d, {"migrate", "cancel", id});
    ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  };
  prepare_and_cancel("zzz", "d0");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  prepare_and_cancel("aaa", "d1");
  CommandResult third = Ctl(d, {"migrate", "prepare", "mmm", "--device", "d2"});
  ASSERT_EQ(third.exit_code, 0) << third.out << third.err;
  auto stub = v1::MigrationService::NewStub(d.Channel());
  v1::ListSessionsResponse all;
  grpc::ClientContext c;
  ASSERT_TRUE(stub->ListSessions(Ctx(c), v1::ListSessionsRequest(), &all).ok());
  std::set<std::string> names;
  for (const v1::Session& s : all.sessions()) names.insert(s.name());
  EXPECT_EQ(names, (std::set<std::string>{"sessions/aaa", "sessions/mmm"}));
  CommandResult gone = Ctl(d, {"migrate", "status", "zzz"});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.err.find("not found"), std::string::npos) << gone.err;
}

}  // namespace
}  // namespace vmig::testing
