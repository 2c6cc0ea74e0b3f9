// Two real vmigd processes from configuration files, driven by vmigctl and
// by gRPC stubs: devices, health, the precise status of bad requests, TLS,
// reflection, signals and an idle daemon's CPU use.
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <functional>
#include <iterator>
#include <sstream>
#include <thread>

#include "common/subprocess.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/process.h"
#include "vmig/v1/device.grpc.pb.h"
#include "vmig/v1/migration.grpc.pb.h"

namespace vmig::testing {
namespace {

std::string Config(const TempDir& dir, const std::string& name,
                   const std::string& extra = "") {
  return "listen { unix_socket: \"" + dir.path() + "/" + name + ".sock\" }\n" +
         extra;
}

grpc::ClientContext* Ctx(grpc::ClientContext& c) {
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return &c;
}

class TwoDaemonsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = std::make_unique<Daemon>(
        dir_, "a",
        Config(dir_, "a",
               "limits { max_message_bytes: 65536 max_watchers: 1 max_devices: "
               "6 }\n"
               "devices { device_id: \"boot0\" emulated_spec: "
               "\"emu:state=8MiB\" }\n"
               // A data plane (memif, no peer): incoming sessions need one.
               "dataplane { lcores: \"1\" main_lcore: 0 ports { name: \"p\" "
               "memif: \"role=server,socket=" +
                   dir_.path() + "/memif.sock,socket-abstract=no\" } }\n"));
    b_ = std::make_unique<Daemon>(
        dir_, "b",
        Config(dir_, "b",
               "devices { device_id: \"boot1\" emulated_spec: "
               "\"emu:state=8MiB\" }\n"));
    ASSERT_TRUE(a_->WaitReady()) << a_->log();
    ASSERT_TRUE(b_->WaitReady()) << b_->log();
    devices_ = v1::DeviceService::NewStub(a_->Channel());
    migration_ = v1::MigrationService::NewStub(a_->Channel());
  }

  void ExpectStillServing() {
    CommandResult h = Ctl(*a_, {"health"});
    EXPECT_EQ(h.exit_code, 0) << h.err;
    EXPECT_EQ(h.out, "SERVING\n");
  }

  TempDir dir_;
  std::unique_ptr<Daemon> a_, b_;
  std::unique_ptr<v1::DeviceService::Stub> devices_;
  std::unique_ptr<v1::MigrationService::Stub> migration_;
};

TEST_F(TwoDaemonsTest, AttachListAsTableAndJsonAndHealth) {
  for (const Daemon* d : {a_.get(), b_.get()}) {
    CommandResult r = Ctl(*d, {"device", "attach", "nic0", "--emu",
                               "emu:state=16MiB,dirty=4MiB/s"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = Ctl(*d, {"device", "attach", "gpu0", "--emu",
                 "emu:state=32MiB,flags=stop_copy|p2p"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  CommandResult table = Ctl(*a_, {"device", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(table.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    rows.emplace_back(std::istream_iterator<std::string>(words),
                      std::istream_iterator<std::string>());
  }
  using Row = std::vector<std::string>;
  ASSERT_EQ(rows.size(), 4u) << table.out;
  EXPECT_EQ(rows[0],
            (Row{"NAME", "BACKEND", "STATE", "FLAGS", "STOP_COPY", "SESSION"}));
  EXPECT_EQ(rows[1], (Row{"devices/boot0", "emulated", "RUNNING",
                          "stop_copy|p2p|pre_copy", "8.00", "MiB", "-"}));
  EXPECT_EQ(rows[2], (Row{"devices/gpu0", "emulated", "RUNNING",
                          "stop_copy|p2p", "32.02", "MiB", "-"}));
  EXPECT_EQ(rows[3][0], "devices/nic0");
  // Columns line up: every row's second column starts where the header's does.
  const size_t col = table.out.find("BACKEND");
  std::istringstream again(table.out);
  for (std::string line; std::getline(again, line);) {
    EXPECT_EQ(line.find_first_not_of(' ', line.find("  ")), col) << line;
  }

  CommandResult json = Ctl(*b_, {"--output", "json", "device", "list"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  v1::ListDevicesResponse parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok())
      << json.out;
  ASSERT_EQ(parsed.devices_size(), 3);
  EXPECT_EQ(parsed.devices(0).name(), "devices/boot1");
  EXPECT_EQ(parsed.devices(2).name(), "devices/nic0");
  EXPECT_EQ(parsed.devices(2).state(), v1::DEVICE_STATE_RUNNING);
  EXPECT_TRUE(parsed.devices(2).flags().pre_copy());
  EXPECT_EQ(parsed.devices(1).stop_copy_length(),
            32u * 1048576 + 512 * 32 + 64 + 48);

  // YAML (-o, short for --output): the same fields, a document Python's
  // YAML loader reads back.
  CommandResult yaml = Ctl(*b_, {"-o", "yaml", "device", "list"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_EQ(yaml.out.find('{'), std::string::npos) << "block style\n"
                                                   << yaml.out;
  CommandResult read_back = RunCommand(
      {"/usr/bin/python3", "-c",
       "import sys,yaml\n"
       "d=yaml.safe_load(sys.argv[1])\n"
       "names=[x['name'] for x in d['devices']]\n"
       "assert names==['devices/boot1','devices/gpu0','devices/nic0'], names\n"
       "assert d['devices'][2]['state']=='DEVICE_STATE_RUNNING'\n"
       "assert d['devices'][2]['flags']['pre_copy'] is True\n",
       yaml.out});
  EXPECT_EQ(read_back.exit_code, 0) << read_back.err << yaml.out;
  CommandResult bad_format = Ctl(*b_, {"-o", "xml", "device", "list"});
  EXPECT_EQ(bad_format.exit_code, 2);
  EXPECT_NE(bad_format.err.find("table, json or yaml, not 'xml'"),
            std::string::npos)
      << bad_format.err;

  // Daemon b runs without a data plane: its status says so precisely.
  CommandResult dp = Ctl(*b_, {"dataplane", "status"});
  EXPECT_EQ(dp.exit_code, 1);
  EXPECT_NE(dp.err.find("FAILED_PRECONDITION"), std::string::npos) << dp.err;
  EXPECT_NE(dp.err.find("without a data plane"), std::string::npos) << dp.err;
  EXPECT_EQ(Ctl(*a_, {"dataplane", "frobnicate"}).exit_code, 2);

  ExpectStillServing();
  EXPECT_EQ(Ctl(*b_, {"health"}).out, "SERVING\n");
  // Health per service, the data plane reported apart (a_ has one, its
  // memif link up once b_ serves it; b_ has none).
  for (const char* svc : {"vmig.v1.MigrationService", "vmig.v1.DeviceService",
                          "vmig.v1.PeerService", "vmig.v1.DataplaneService"}) {
    CommandResult h = Ctl(*b_, {"health", svc});
    EXPECT_EQ(h.exit_code, 0) << svc << ": " << h.err;
    EXPECT_EQ(h.out, "SERVING\n") << svc;
  }
  CommandResult unknown = Ctl(*b_, {"health", "vmig.v1.NoSuchService"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("NOT_FOUND"), std::string::npos) << unknown.err;
  CommandResult health_json = Ctl(*b_, {"--output", "json", "health"});
  EXPECT_NE(health_json.out.find("\"status\": \"SERVING\""), std::string::npos)
      << health_json.out;
  EXPECT_EQ(Ctl(*a_, {"device", "get", "nosuch"}).exit_code, 1);
  EXPECT_EQ(Ctl(*a_, {"device", "frobnicate"}).exit_code, 2);
}

// Each bad request gets its precise status, and the daemon keeps serving.
TEST_F(TwoDaemonsTest, BadRequestsGetPreciseStatusAndTheDaemonKeepsServing) {
  struct Case {
    const char* what;
    std::function<grpc::Status()> call;
    grpc::StatusCode want;
    const char* mention;  // the field or reason the message must name
  };
  auto attach = [&](v1::AttachDeviceRequest req) {
    grpc::ClientContext c;
    v1::Device d;
    return devices_->AttachDevice(Ctx(c), req, &d);
  };
  auto prepare = [&](const std::string& id, std::vector<std::string> devs,
                     const std::string& endpoint = "",
                     v1::MigrationService::Stub* stub = nullptr) {
    v1::PrepareIncomingRequest req;
    req.set_session_id(id);
    for (auto& d : devs) req.add_devices(d);
    req.set_data_endpoint(endpoint);
    grpc::ClientContext c;
    v1::Session s;
    return (stub ? stub : migration_.get())->PrepareIncoming(Ctx(c), req, &s);
  };
  auto start = [&](std::vector<std::pair<std::string, std::string>> map,
                   int64_t budget_ms) {
    v1::StartMigrationRequest req;
    req.set_session_id("out1");
    req.set_peer(b_->address());
    for (auto& [s, d] : map) {
      auto* m = req.add_devices();
      m->set_source(s);
      m->set_destination(d);
    }
    req.mutable_downtime_budget()->set_seconds(budget_ms / 1000);
    req.mutable_downtime_budget()->set_nanos(
        static_cast<int32_t>(budget_ms % 1000) * 1000000);
    grpc::ClientContext c;
    v1::Session s;
    return migration_->StartMigration(Ctx(c), req, &s);
  };
  v1::AttachDeviceRequest ok_req;
  ok_req.set_device_id("d1");
  ok_req.set_emulated_spec("emu:state=4MiB");
  ASSERT_TRUE(attach(ok_req).ok());
  v1::AttachDeviceRequest nop2p;
  nop2p.set_device_id("np");
  nop2p.set_emulated_spec("emu:state=4MiB,flags=stop_copy|pre_copy");
  ASSERT_TRUE(attach(nop2p).ok());
  ASSERT_TRUE(prepare("in1", {"d1"}).ok());

  std::vector<Case> cases = {
      {"unknown device",
       [&] {
         grpc::ClientContext c;
         v1::GetDeviceRequest r;
         r.set_name("devices/nosuch");
         v1::Device d;
         return devices_->GetDevice(Ctx(c), r, &d);
       },
       grpc::StatusCode::NOT_FOUND, "devices/nosuch"},
      {"bad resource name",
       [&] {
         grpc::ClientContext c;
         v1::GetDeviceRequest r;
         r.set_name("gadgets/x");
         v1::Device d;
         return devices_->GetDevice(Ctx(c), r, &d);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "name"},
      {"duplicate name", [&] { return attach(ok_req); },
       grpc::StatusCode::ALREADY_EXISTS, "devices/d1"},
      {"malformed spec",
       [&] {
         v1::AttachDeviceRequest r;
         r.set_device_id("m");
         r.set_emulated_spec("emu:state=lots");
         return attach(r);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "emulated_spec"},
      {"missing device_id",
       [&] {
         v1::AttachDeviceRequest r;
         r.set_emulated_spec("emu:");
         return attach(r);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "device_id"},
      {"missing source",
       [&] {
         v1::AttachDeviceRequest r;
         r.set_device_id("nosrc");
         return attach(r);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "source"},
      {"unopenable kernel device",
       [&] {
         v1::AttachDeviceRequest r;
         r.set_device_id("k");
         r.mutable_kernel()->set_cdev("/dev/vfio/devices/vfio999");
         return attach(r);
       },
       grpc::StatusCode::FAILED_PRECONDITION, "vfio999"},
      {"oversize message",
       [&] {
         v1::AttachDeviceRequest r;
         r.set_device_id("big");
         r.set_emulated_spec("emu:name=" + std::string(200000, 'x'));
         return attach(r);
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, ""},
      {"budget out of range",
       [&] {
         return start({{"boot0", "x"}}, 120000);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "downtime_budget"},
      {"budget missing",
       [&] {
         return start({{"boot0", "x"}}, 0);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "downtime_budget"},
      {"no devices mapped", [&] { return start({}, 300); },
       grpc::StatusCode::INVALID_ARGUMENT, "devices"},
      {"several devices without P2P",
       [&] {
         return start({{"boot0", "x"}, {"np", "y"}}, 300);
       },
       grpc::StatusCode::FAILED_PRECONDITION, "P2P"},
      {"unknown session",
       [&] {
         grpc::ClientContext c;
         v1::GetSessionRequest r;
         r.set_name("sessions/nosuch");
         v1::Session s;
         return migration_->GetSession(Ctx(c), r, &s);
       },
       grpc::StatusCode::NOT_FOUND, "sessions/nosuch"},
      {"switchover in the wrong state",
       [&] {
         grpc::ClientContext c;
         v1::SwitchoverRequest r;
         r.set_name("sessions/in1");
         v1::Session s;
         return migration_->Switchover(Ctx(c), r, &s);
       },
       grpc::StatusCode::FAILED_PRECONDITION, "PREPARED"},
      {"duplicate session", [&] { return prepare("in1", {"boot0"}); },
       grpc::StatusCode::ALREADY_EXISTS, "sessions/in1"},
      {"device used by another session", [&] { return prepare("in2", {"d1"}); },
       grpc::StatusCode::FAILED_PRECONDITION, "sessions/in1"},
      {"detach a busy device",
       [&] {
         grpc::ClientContext c;
         v1::DetachDeviceRequest r;
         r.set_name("devices/d1");
         v1::DetachDeviceResponse resp;
         return devices_->DetachDevice(Ctx(c), r, &resp);
       },
       grpc::StatusCode::FAILED_PRECONDITION, "sessions/in1"},
      {"missing session id", [&] { return prepare("", {"boot0"}); },
       grpc::StatusCode::INVALID_ARGUMENT, "session_id"},
      {"data_endpoint naming no port",
       [&] { return prepare("in3", {"boot0"}, "nosuchport"); },
       grpc::StatusCode::INVALID_ARGUMENT, "data_endpoint"},
      {"incoming session on a daemon without a data plane",
       [&] {
         auto other = v1::MigrationService::NewStub(b_->Channel());
         return prepare("in4", {"boot1"}, "", other.get());
       },
       grpc::StatusCode::FAILED_PRECONDITION, "data plane"},
      {"deadline already passed",
       [&] {
         grpc::ClientContext c;
         c.set_deadline(std::chrono::system_clock::now() -
                        std::chrono::seconds(1));
         v1::ListDevicesResponse r;
         return devices_->ListDevices(&c, v1::ListDevicesRequest(), &r);
       },
       grpc::StatusCode::DEADLINE_EXCEEDED, ""},
  };
  for (const Case& c : cases) {
    grpc::Status s = c.call();
    EXPECT_EQ(s.error_code(), c.want) << c.what << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.mention), std::string::npos)
        << c.what << ": '" << s.error_message() << "' should name "
        << c.mention;
    ExpectStillServing();
  }
  // The device limit (6: boot0, d1, np and three more).
  for (int i = 0; i < 3; ++i) {
    v1::AttachDeviceRequest r;
    r.set_device_id("fill" + std::to_string(i));
    r.set_emulated_spec("emu:state=1MiB");
    ASSERT_TRUE(attach(r).ok());
  }
  v1::AttachDeviceRequest over;
  over.set_device_id("over");
  over.set_emulated_spec("emu:state=1MiB");
  EXPECT_EQ(attach(over).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // The watcher limit (1): a second watcher is refused while one watches.
  grpc::ClientContext wctx;
  v1::WatchSessionRequest wreq;
  wreq.set_name("sessions/in1");
  auto watcher = migration_->WatchSession(&wctx, wreq);
  v1::SessionEvent ev;
  ASSERT_TRUE(watcher->Read(&ev));
  EXPECT_EQ(ev.session().phase(), v1::PHASE_PREPARED);
  grpc::ClientContext w2;
  auto second = migration_->WatchSession(Ctx(w2), wreq);
  EXPECT_FALSE(second->Read(&ev));
  EXPECT_EQ(second->Finish().error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Cancel ends the first watch with the final phase; the device is free.
  EXPECT_EQ(Ctl(*a_, {"migrate", "cancel", "in1"}).exit_code, 0);
  v1::Phase last = v1::PHASE_UNSPECIFIED;
  while (watcher->Read(&ev)) last = ev.session().phase();
  EXPECT_EQ(last, v1::PHASE_CANCELLED);
  EXPECT_TRUE(watcher->Finish().ok());
  CommandResult dev = Ctl(*a_, {"--output", "json", "device", "get", "d1"});
  EXPECT_NE(dev.out.find("\"state\": \"DEVICE_STATE_RUNNING\""),
            std::string::npos)
      << dev.out;
  EXPECT_NE(dev.out.find("\"session\": \"\""), std::string::npos) << dev.out;
  ExpectStillServing();
}

// Both reflection versions: gRPC's v1alpha and v1 (which newer clients
// speak), each enough for a client that knows only the address.
TEST(DaemonReflectionTest, AClientWithOnlyTheAddressDiscoversAndCalls) {
  TempDir dir;
  Daemon d(
      dir, "r",
      Config(dir, "r",
             "devices { device_id: \"found-me\" emulated_spec: \"emu:\" }\n"));
  ASSERT_TRUE(d.WaitReady()) << d.log();
  for (const char* version : {"v1alpha", "v1"}) {
    SCOPED_TRACE(version);
    CommandResult r =
        RunCommand({BinaryPath("tests/reflection_client"), d.address(),
                    "vmig.v1.DeviceService", "ListDevices", version});
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    EXPECT_NE(r.out.find("service grpc.reflection.v1.ServerReflection"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("service vmig.v1.MigrationService"),
              std::string::npos);
    EXPECT_NE(r.out.find("service grpc.health.v1.Health"), std::string::npos);
    EXPECT_NE(r.out.find("response vmig.v1.ListDevicesResponse"),
              std::string::npos);
    EXPECT_NE(r.out.find("name: \"devices/found-me\""), std::string::npos)
        << r.out;
  }
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A CA, a server certificate for 127.0.0.1, a client certificate it
    // signed, and a self-signed impostor.
    CommandResult r = MakeTestCertificates(dir_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string Tls(bool mutual, int port) {
    const std::string d = dir_.path();
    return "listen { unix_socket: \"" + d +
           "/t.sock\" tcp_address: \"127.0.0.1:" + std::to_string(port) +
           "\" tls { cert_file: \"" + d + "/server.pem\" key_file: \"" + d +
           "/server.key\" ca_file: \"" + d +
           "/ca.pem\" require_client_cert: " + (mutual ? "true" : "false") +
           " } }\n";
  }
  CommandResult Health(int port, std::vector<std::string> tls) {
    std::vector<std::string> args = {
        BinaryPath("control/cli/vmigctl"), "--addr",
        "127.0.0.1:" + std::to_string(port), "--timeout", "5s"};
    args.insert(args.end(), tls.begin(), tls.end());
    args.push_back("health");
    return RunCommand(args);
  }
  TempDir dir_;
};

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutAValidCertificate) {
  const int port = FreeTcpPort();
  Daemon d(dir_, "mtls", Tls(true, port));
  ASSERT_TRUE(d.WaitReady()) << d.log();
  const std::string p = dir_.path();
  CommandResult good =
      Health(port, {"--tls-ca", p + "/ca.pem", "--tls-cert", p + "/client.pem",
                    "--tls-key", p + "/client.key"});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(good.out, "SERVING\n");
  CommandResult none = Health(port, {"--tls-ca", p + "/ca.pem"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("UNAVAILABLE"), std::string::npos) << none.err;
  CommandResult rogue =
      Health(port, {"--tls-ca", p + "/ca.pem", "--tls-cert", p + "/rogue.pem",
                    "--tls-key", p + "/rogue.key"});
  EXPECT_EQ(rogue.exit_code, 1);
  CommandResult plain = Health(port, {});
  EXPECT_EQ(plain.exit_code, 1);
}

TEST_F(TlsTest, ServerOnlyTlsServesClientsThatTrustTheCa) {
  const int port = FreeTcpPort();
  Daemon d(dir_, "tls", Tls(false, port));
  ASSERT_TRUE(d.WaitReady()) << d.log();
  CommandResult r = Health(port, {"--tls-ca", dir_.path() + "/ca.pem"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST(DaemonConfigTest, CheckConfigNamesTheBadOptionAndRefusesInsecureTcp) {
  TempDir dir;
  const std::string good = dir.Write("good.conf", Config(dir, "g"));
  EXPECT_EQ(
      RunCommand({BinaryPath("control/server/vmigd"), "--check-config", good})
          .exit_code,
      0);
  const std::string bad =
      dir.Write("bad.conf",
                Config(dir, "b", "listen { tcp_address: \"0.0.0.0:7443\" }\n"));
  CommandResult r =
      RunCommand({BinaryPath("control/server/vmigd"), "--check-config", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("listen.tcp_address"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("plaintext"), std::string::npos) << r.err;
  r = RunCommand({BinaryPath("control/server/vmigd"), "--check-config", good,
                  "--set", "limits { max_message_bytes: 1 }"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("limits.max_message_bytes"), std::string::npos) << r.err;
  r = RunCommand({BinaryPath("control/server/vmigd"), "--check-config", good,
                  "--set", "no_such_option: 1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no_such_option"), std::string::npos) << r.err;
}

// The configuration goes into the journal once, as a digest that
// `--check-config` prints too (the unit's start and reload checks run with
// --quiet: one line each, not every option).
TEST(DaemonConfigTest, TheConfigurationIsLoggedOnceAsADigest) {
  TempDir dir;
  Daemon d(dir, "dg", Config(dir, "dg"));
  ASSERT_TRUE(d.WaitReady()) << d.log();
  // (The fixture starts test daemons with these overrides: the digest is of
  // the effective configuration.)
  CommandResult q =
      RunCommand({BinaryPath("control/server/vmigd"), "--check-config",
                  dir.path() + "/dg.conf", "--quiet", "--set",
                  "peer { allow_unix_peers: true }", "--set",
                  "allow_emulated_devices: true"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const size_t at = q.out.find("(digest ");
  ASSERT_NE(at, std::string::npos) << q.out;
  const std::string digest = q.out.substr(at + 8, 16);
  EXPECT_EQ(std::count(q.out.begin(), q.out.end(), '\n'), 1) << q.out;
  EXPECT_NE(d.log().find("digest " + digest), std::string::npos) << d.log();
  EXPECT_EQ(d.log().find("unix_socket:"), std::string::npos) << d.log();
  // Another configuration, another digest.
  CommandResult other =
      RunCommand({BinaryPath("control/server/vmigd"), "--check-config",
                  dir.path() + "/dg.conf", "--quiet", "--set",
                  "log_level: LOG_LEVEL_DEBUG"});
  EXPECT_EQ(other.out.find(digest), std::string::npos) << other.out;
}

TEST(DaemonIdleTest, AnIdleDataPlaneWorkerSleeps) {
  // A worker lcore on a memif port with no peer and no streams: it must
  // back off to sleeping, not spin a core (which would use ~1 CPU second
  // a second).
  TempDir dir;
  Daemon d(dir, "idle",
           Config(dir, "idle",
                  "dataplane { lcores: \"1\" main_lcore: 0 ports { name: "
                  "\"p\" memif: \"role=server,socket=" +
                      dir.path() +
                      "/memif.sock,socket-abstract=no\" ipv4: "
                      "\"169.254.77.1\" } }\n"));
  ASSERT_TRUE(d.WaitReady()) << d.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double before = ProcessCpuSeconds(d.pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double used = ProcessCpuSeconds(d.pid()) - before;
  EXPECT_LT(used, 0.4) << "an idle vmigd used " << used
                       << " CPU seconds in 2 s\n"
                       << d.log();
}

TEST(DaemonSignalTest, SigtermWhileIdleExitsZeroQuicklyWithSdNotify) {
  TempDir dir;
  const std::string notify = dir.path() + "/notify.sock";
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, notify.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv = {10, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  Daemon d(dir, "sig", Config(dir, "sig"),
           {{"NOTIFY_SOCKET", notify}, {"WATCHDOG_USEC", "400000"}});
  std::string all;
  char buf[4096];
  bool ready = false, watchdog = false;
  while (!(ready && watchdog)) {
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0) << "no sd_notify message; got so far: " << all << "\n"
                    << d.log();
    all.append(buf, n).append("\n");
    ready = ready || all.find("READY=1") != std::string::npos;
    watchdog = watchdog || all.find("WATCHDOG=1") != std::string::npos;
  }
  EXPECT_NE(all.find("STATUS=serving on unix:"), std::string::npos) << all;
  double seconds = 0;
  EXPECT_EQ(d.Stop(5, &seconds), 0) << d.log();
  EXPECT_LT(seconds, 2.0);
  bool stopping = false;
  for (int i = 0; i < 20 && !stopping; ++i) {
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    if (n <= 0) break;
    stopping = std::string(buf, n).find("STOPPING=1") != std::string::npos;
  }
  EXPECT_TRUE(stopping);
  close(s);
}

}  // namespace
}  // namespace vmig::testing
