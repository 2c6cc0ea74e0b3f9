// The two-daemon fixture of the integration tests: a source and a
// destination vmigd joined by memif, driven through gRPC, with emulated
// devices; helpers to prepare, start, wait for and verify migrations, and
// the lockstep check over both daemons' transition logs.
#ifndef VMIGD_TESTS_INTEGRATION_MIGRATION_FIXTURE_H_
#define VMIGD_TESTS_INTEGRATION_MIGRATION_FIXTURE_H_

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/process.h"
#include "tests/integration/veth_namespaces.h"
#include "vmig/v1/dataplane.grpc.pb.h"
#include "vmig/v1/device.grpc.pb.h"
#include "vmig/v1/migration.grpc.pb.h"

namespace vmig::testing {

struct Arc {
  std::string device, from, to;
  int64_t start, end;
  bool ok;
};

inline std::vector<Arc> ReadArcs(const std::string& path) {
  std::vector<Arc> arcs;
  std::ifstream in(path);
  Arc a;
  int ok;
  while (in >> a.device >> a.from >> a.to >> a.start >> a.end >> ok) {
    a.ok = ok;
    arcs.push_back(a);
  }
  return arcs;
}

inline bool IsP2P(const std::string& s) {
  return s == "RUNNING_P2P" || s == "PRE_COPY_P2P";
}

// Source: no device enters STOP or STOP_COPY before every device is
// P2P-quiescent. Destination: no device enters RUNNING before every device
// is in RUNNING_P2P.
inline void ExpectLockstep(const std::string& source_log,
                           const std::string& dest_log, size_t devices) {
  int64_t last_quiesced = 0, first_stop = INT64_MAX;
  size_t quiesced = 0;
  for (const Arc& a : ReadArcs(source_log)) {
    if (!a.ok) continue;
    if (IsP2P(a.to) && !IsP2P(a.from)) {
      last_quiesced = std::max(last_quiesced, a.end);
      ++quiesced;
    }
    if ((a.to == "STOP" || a.to == "STOP_COPY") && IsP2P(a.from)) {
      first_stop = std::min(first_stop, a.start);
    }
  }
  EXPECT_EQ(quiesced, devices);
  EXPECT_LE(last_quiesced, first_stop)
      << "a source device stopped before all were quiescent";
  int64_t last_p2p = 0, first_running = INT64_MAX;
  size_t resumed = 0;
  for (const Arc& a : ReadArcs(dest_log)) {
    if (!a.ok) continue;
    if (a.to == "RUNNING_P2P" && a.from == "STOP")
      last_p2p = std::max(last_p2p, a.end);
    if (a.to == "RUNNING" && a.from == "RUNNING_P2P") {
      first_running = std::min(first_running, a.start);
      ++resumed;
    }
  }
  EXPECT_EQ(resumed, devices);
  EXPECT_LE(last_p2p, first_running)
      << "a destination device ran before all were RUNNING_P2P";
}

struct DeviceSpec {
  std::string id, source_spec, dest_spec;
};

class MigrationTest : public ::testing::Test {
 protected:
  void StartDaemons(const std::vector<DeviceSpec>& devs) {
    devs_ = devs;
    const std::string d = dir_.path();
    std::string a =
        "listen { unix_socket: \"" + d + "/a.sock\" " + src_listen_extra_ +
        "}\n" + src_extra_ + "emu_transition_log: \"" + d + "/a.arcs\"\n" +
        (src_dataplane_.empty()
             ? "dataplane { lcores: \"1\" main_lcore: 0 ports { name: \"p\" "
               "memif: \"role=server,socket=" +
                   d +
                   "/memif.sock,socket-abstract=no\" ipv4: "
                   "\"169.254.77.1\" } }\n"
             : src_dataplane_);
    for (const auto& x : devs) {
      a += "devices { device_id: \"" + x.id + "\" emulated_spec: \"" +
           x.source_spec + "\" }\n";
    }
    src_config_ = a;
    source_ = std::make_unique<Daemon>(dir_, "a", a, daemon_env_, src_prefix_);
    ASSERT_TRUE(source_->WaitReady()) << source_->log();
    StartDestination();
    src_dev_ = v1::DeviceService::NewStub(source_->Channel());
    src_mig_ = v1::MigrationService::NewStub(source_->Channel());
  }
  void StartDestination() {
    const std::string d = dir_.path();
    std::string b =
        "listen { unix_socket: \"" + d + "/b.sock\" " + dst_listen_extra_ +
        "}\n" + dst_extra_ + "emu_transition_log: \"" + d + "/b.arcs\"\n" +
        (dst_dataplane_.empty()
             ? "dataplane { lcores: \"0\" main_lcore: 1 ports { name: \"p\" "
               "memif: \"role=client,socket=" +
                   d +
                   "/memif.sock,socket-abstract=no,"
                   "zero-copy=yes\" ipv4: \"169.254.77.2\" } }\n"
             : dst_dataplane_);
    for (const auto& x : devs_) {
      b += "devices { device_id: \"" + x.id + "\" emulated_spec: \"" +
           x.dest_spec + "\" }\n";
    }
    dst_config_ = b;
    dest_ = std::make_unique<Daemon>(dir_, "b", b, daemon_env_, dst_prefix_);
    ASSERT_TRUE(dest_->WaitReady()) << dest_->log();
    dst_dev_ = v1::DeviceService::NewStub(dest_->Channel());
    dst_mig_ = v1::MigrationService::NewStub(dest_->Channel());
  }
  // The same daemon again (same configuration and sockets), after a crash
  // or a stop; new stubs.
  void RestartSource() {
    source_.reset();
    source_ = std::make_unique<Daemon>(dir_, "a", src_config_, daemon_env_,
                                       src_prefix_);
    ASSERT_TRUE(source_->WaitReady()) << source_->log();
    src_dev_ = v1::DeviceService::NewStub(source_->Channel());
    src_mig_ = v1::MigrationService::NewStub(source_->Channel());
  }
  void RestartDestination() {
    dest_.reset();
    dest_ = std::make_unique<Daemon>(dir_, "b", dst_config_, daemon_env_,
                                     dst_prefix_);
    ASSERT_TRUE(dest_->WaitReady()) << dest_->log();
    dst_dev_ = v1::DeviceService::NewStub(dest_->Channel());
    dst_mig_ = v1::MigrationService::NewStub(dest_->Channel());
  }
  void TruncateArcLogs() {
    std::ofstream(dir_.path() + "/a.arcs", std::ios::trunc);
    std::ofstream(dir_.path() + "/b.arcs", std::ios::trunc);
  }
  static grpc::ClientContext* Ctx(grpc::ClientContext& c, int seconds = 60) {
    c.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::seconds(seconds));
    return &c;
  }
  // The ids of every device, or of `only` where given.
  std::vector<std::string> Ids(const std::vector<std::string>& only) const {
    if (!only.empty()) return only;
    std::vector<std::string> ids;
    for (const auto& x : devs_) ids.push_back(x.id);
    return ids;
  }
  grpc::Status Prepare(const std::string& id,
                       const std::vector<std::string>& only = {}) {
    v1::PrepareIncomingRequest req;
    req.set_session_id(id);
    for (const auto& x : Ids(only)) req.add_devices(x);
    req.set_data_endpoint(endpoint_);
    grpc::ClientContext c;
    v1::Session s;
    return dst_mig_->PrepareIncoming(Ctx(c), req, &s);
  }
  grpc::Status Start(const std::string& id, int budget_ms, bool manual = false,
                     const std::vector<std::string>& only = {}) {
    v1::StartMigrationRequest req;
    req.set_session_id(id);
    req.set_peer(peer_address_.empty() ? dest_->address() : peer_address_);
    for (const auto& x : Ids(only)) {
      auto* m = req.add_devices();
      m->set_source(x);
      m->set_destination(x);
    }
    req.mutable_downtime_budget()->set_nanos(budget_ms % 1000 * 1000000);
    req.mutable_downtime_budget()->set_seconds(budget_ms / 1000);
    req.mutable_precopy()->mutable_max_precopy()->set_seconds(30);
    req.set_switchover_mode(manual ? v1::SWITCHOVER_MODE_MANUAL
                                   : v1::SWITCHOVER_MODE_AUTO);
    req.set_data_endpoint(endpoint_);
    grpc::ClientContext c;
    v1::Session s;
    return src_mig_->StartMigration(Ctx(c), req, &s);
  }
  // Cancels session `id` on the source; `reply` gets the session it returns.
  grpc::Status CancelOnSource(const std::string& id, v1::Session* reply) {
    grpc::ClientContext c;
    v1::CancelRequest req;
    req.set_name("sessions/" + id);
    return src_mig_->Cancel(Ctx(c), req, reply);
  }
  // Switches session `id` over on the source (manual mode).
  grpc::Status SwitchoverOnSource(const std::string& id) {
    grpc::ClientContext c;
    v1::SwitchoverRequest req;
    req.set_name("sessions/" + id);
    v1::Session reply;
    return src_mig_->Switchover(Ctx(c), req, &reply);
  }
  v1::Session Get(v1::MigrationService::Stub& stub, const std::string& id) {
    grpc::ClientContext c;
    v1::GetSessionRequest req;
    req.set_name("sessions/" + id);
    v1::Session s;
    (void)stub.GetSession(Ctx(c), req, &s);
    return s;
  }
  // Polls until the session reaches `phase` or ends; returns the last seen.
  v1::Session WaitPhase(v1::MigrationService::Stub& stub, const std::string& id,
                        std::set<v1::Phase> phases, int seconds = 120) {
    v1::Session s;
    for (int i = 0; i < seconds * 100; ++i) {
      s = Get(stub, id);
      if (phases.count(s.phase())) return s;
      if (s.phase() == v1::PHASE_COMPLETED || s.phase() == v1::PHASE_FAILED ||
          s.phase() == v1::PHASE_CANCELLED) {
        return s;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return s;
  }
  v1::Session WaitEnd(v1::MigrationService::Stub& stub, const std::string& id) {
    return WaitPhase(
        stub, id, {v1::PHASE_COMPLETED, v1::PHASE_FAILED, v1::PHASE_CANCELLED});
  }
  std::map<std::string, v1::Device> Devices(v1::DeviceService::Stub& stub) {
    grpc::ClientContext c;
    v1::ListDevicesResponse r;
    (void)stub.ListDevices(Ctx(c), v1::ListDevicesRequest(), &r);
    std::map<std::string, v1::Device> out;
    for (const auto& d : r.devices()) out[d.name()] = d;
    return out;
  }
  void ExpectAllIn(v1::DeviceService::Stub& stub, v1::DeviceState state) {
    for (const auto& [name, d] : Devices(stub)) {
      EXPECT_EQ(d.state(), state) << name;
      EXPECT_TRUE(d.session().empty())
          << name << " still held by " << d.session();
    }
  }
  // A budget for tests whose subject is not the budget: loose enough that a
  // slow or loaded machine (a CI runner whose link probe measures a few
  // hundred MiB/s) can keep it with eight devices, so such a test never
  // fails on the budget refusal instead of what it tests.
  static constexpr int kRoomyBudgetMs = 10000;
  // Prepares and starts session `id` in manual mode and waits until it is
  // READY (pre-copied, waiting for its Switchover call). Fatal failures:
  // call it under ASSERT_NO_FATAL_FAILURE.
  void StartManualUntilReady(const std::string& id) {
    ASSERT_TRUE(Prepare(id).ok());
    ASSERT_TRUE(Start(id, kRoomyBudgetMs, /*manual=*/true).ok());
    ASSERT_EQ(WaitPhase(*src_mig_, id, {v1::PHASE_READY}).phase(),
              v1::PHASE_READY);
  }
  // A full migration that must complete, with digests and lockstep checked.
  void MigrateAndVerify(const std::string& id, int budget_ms = kRoomyBudgetMs) {
    TruncateArcLogs();
    ASSERT_TRUE(Prepare(id).ok());
    grpc::Status st = Start(id, budget_ms);
    ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
    v1::Session s = WaitEnd(*src_mig_, id);
    ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error() << "\n"
                                              << source_->log();
    EXPECT_EQ(WaitEnd(*dst_mig_, id).phase(), v1::PHASE_COMPLETED);
    EXPECT_GT(
        s.report().downtime().seconds() * 1e9 + s.report().downtime().nanos(),
        0);
    auto src = Devices(*src_dev_), dst = Devices(*dst_dev_);
    ASSERT_EQ(src.size(), devs_.size());
    for (const auto& [name, d] : src) {
      EXPECT_EQ(d.state(), v1::DEVICE_STATE_STOP) << name;
      EXPECT_EQ(dst[name].state(), v1::DEVICE_STATE_RUNNING) << name;
      EXPECT_EQ(dst[name].emulated_digest(), d.emulated_digest()) << name;
    }
    ExpectLockstep(dir_.path() + "/a.arcs", dir_.path() + "/b.arcs",
                   devs_.size());
  }
  // After a rollback: a fresh pair of sessions migrates the (intact) state.
  void FollowUpMigrationVerifies(const std::string& id,
                                 int budget_ms = kRoomyBudgetMs) {
    ExpectAllIn(*src_dev_, v1::DEVICE_STATE_RUNNING);
    MigrateAndVerify(id, budget_ms);
  }

  TempDir dir_;
  // Set before StartDaemons to replace a daemon's dataplane {} section, and
  // the data_endpoint that Prepare and Start send (empty: the first port).
  std::string src_dataplane_, dst_dataplane_, endpoint_;
  // The daemons' extra environment.
  std::map<std::string, std::string> daemon_env_;
  // Test certificates in dir_, and the destination also listening on TCP
  // with mutual TLS (the test CA's), which the source is told to dial.
  void ServeThePeerProtocolOnMutualTls() {
    ASSERT_EQ(MakeTestCertificates(dir_).exit_code, 0);
    const std::string d = dir_.path();
    const int port = FreeTcpPort();
    dst_listen_extra_ = "tcp_address: \"127.0.0.1:" + std::to_string(port) +
                        "\" tls { cert_file: \"" + d +
                        "/server.pem\" key_file: \"" + d +
                        "/server.key\" ca_file: \"" + d +
                        "/ca.pem\" require_client_cert: true } ";
    peer_address_ = "127.0.0.1:" + std::to_string(port);
  }
  // More of the source's configuration, more of the destination's listen {}
  // section, and the peer address Start gives (empty: the destination's
  // Unix socket).
  std::string src_extra_, dst_listen_extra_, peer_address_;
  // More of the source's listen {} section.
  std::string src_listen_extra_;
  // More of the destination's configuration (top level).
  std::string dst_extra_;
  // Runs the daemons in `veth`'s two namespaces, joined over af_packet.
  void UseVeth(const VethNamespaces& veth) {
    src_prefix_ = veth.PrefixA();
    dst_prefix_ = veth.PrefixB();
    src_dataplane_ = veth.DataplaneA();
    dst_dataplane_ = veth.DataplaneB();
  }
  // Commands each daemon runs under (e.g. "ip netns exec NS").
  std::vector<std::string> src_prefix_, dst_prefix_;
  // The configurations the daemons were started with.
  std::string src_config_, dst_config_;
  std::vector<DeviceSpec> devs_;
  std::unique_ptr<Daemon> source_, dest_;
  std::unique_ptr<v1::DeviceService::Stub> src_dev_, dst_dev_;
  std::unique_ptr<v1::MigrationService::Stub> src_mig_, dst_mig_;
};

// A daemon's data-plane status (ports, counters, drops by reason).
inline v1::DataplaneStatus DataplaneStatusOf(const Daemon& d) {
  auto stub = v1::DataplaneService::NewStub(d.Channel());
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::DataplaneStatus st;
  grpc::Status s =
      stub->GetDataplaneStatus(&c, v1::GetDataplaneStatusRequest(), &st);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return st;
}

inline std::vector<DeviceSpec> EightDevices() {
  // All with P2P; half with PRE_COPY; 16-256 MiB; dirty rates up to 64 MiB/s.
  const char* sizes[] = {"16MiB", "32MiB", "64MiB", "256MiB",
                         "16MiB", "32MiB", "64MiB", "128MiB"};
  const char* dirty[] = {"64MiB/s", "8MiB/s", "32MiB/s", "16MiB/s",
                         "0",       "0",      "0",       "0"};
  std::vector<DeviceSpec> out;
  for (int i = 0; i < 8; ++i) {
    const std::string flags =
        i < 4 ? "stop_copy|p2p|pre_copy" : "stop_copy|p2p";
    const std::string common =
        std::string("state=") + sizes[i] + ",flags=" + flags;
    out.push_back({"dev" + std::to_string(i),
                   "emu:" + common + ",dirty=" + dirty[i] +
                       ",seed=" + std::to_string(i + 1),
                   "emu:" + common + ",seed=" + std::to_string(100 + i)});
  }
  return out;
}

}  // namespace vmig::testing

#endif  // VMIGD_TESTS_INTEGRATION_MIGRATION_FIXTURE_H_
