#include "tests/daemon/engine_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "dataplane/eal.h"
#include "vfio/emu/emu_device.h"

namespace vmig::daemon::testing {

void EngineRig::SetUpTestSuite() {
  static const bool ok = [] {
    dataplane::EalOptions o;
    o.lcores = "0,1,2";  // main, the source's worker, the destination's
    o.cpu_set = "0-1";   // sharing this machine's CPUs
    o.file_prefix = absl::StrCat("vmig-enginetest-", getpid());
    o.memory_mb = 0;
    if (!dataplane::InitEal(o).ok()) return false;
    std::atexit([] { dataplane::CleanupEal(); });
    return true;
  }();
  ASSERT_TRUE(ok) << "EAL did not start";
}

void EngineRig::SetUp() {
  static int pair = 0;
  const std::string name = absl::StrCat("engrig", pair++);
  for (int side = 0; side < 2; ++side) {
    dataplane::TransportConfig c;
    c.port.name = "p";
    c.port.kind = dataplane::PortConfig::Kind::kRing;
    c.port.args = absl::StrCat(name, side == 0 ? ":a" : ":b");
    c.port.mbufs = 4096;
    c.local.ipv4 = 0xa9fe0001 + side;
    c.local.udp_port = 7700;
    c.worker_lcores = {static_cast<unsigned>(1 + side)};
    c.protection = side == 0 ? src_protection_ : dst_protection_;
    if (side == 1) {
      c.flow.window_bytes = dst_window_bytes_;
      c.max_receive_buffer_bytes = dst_max_receive_bytes_;
    }
    auto t = dataplane::Transport::Start(c);
    ASSERT_TRUE(t.ok()) << t.status();
    (side == 0 ? src_tp_ : dst_tp_) = std::move(*t);
  }
  registry_ = std::make_unique<DeviceRegistry>(64);
}

void EngineRig::TearDown() {
  // Streams end with the transports; devices go with the registry.
  src_tp_.reset();
  dst_tp_.reset();
}

void EngineRig::AddDevices(const std::vector<std::string>& specs,
                           const std::vector<std::string>& dest_specs) {
  for (size_t i = 0; i < specs.size(); ++i) {
    v1::AttachDeviceRequest s, d;
    s.set_device_id(absl::StrCat("s", src_ids_.size()));
    s.set_emulated_spec(specs[i]);
    d.set_device_id(absl::StrCat("d", dst_ids_.size()));
    d.set_emulated_spec(i < dest_specs.size() ? dest_specs[i] : "emu:");
    ASSERT_TRUE(registry_->Attach(s).ok()) << specs[i];
    ASSERT_TRUE(registry_->Attach(d).ok());
    src_ids_.push_back(s.device_id());
    dst_ids_.push_back(d.device_id());
  }
}

v1::StartMigrationRequest EngineRig::Request(int budget_ms) const {
  v1::StartMigrationRequest req;
  req.set_session_id("t1");
  req.set_peer("fake");
  for (size_t i = 0; i < src_ids_.size(); ++i) {
    auto* m = req.add_devices();
    m->set_source(src_ids_[i]);
    m->set_destination(dst_ids_[i]);
  }
  req.mutable_downtime_budget()->set_seconds(budget_ms / 1000);
  req.mutable_downtime_budget()->set_nanos((budget_ms % 1000) * 1000000);
  return req;
}

v1::Session EngineRig::Migrate(
    v1::StartMigrationRequest req,
    const std::function<void(SessionRecord&)>& during, Clock& clock) {
  dest_record_ =
      std::make_shared<SessionRecord>(req.session_id(), v1::ROLE_DESTINATION);
  auto dst_devs = registry_->Claim(dst_ids_, dest_record_->name());
  EXPECT_TRUE(dst_devs.ok()) << dst_devs.status();
  DestinationSession dest(dest_record_, dst_ids_, *dst_devs, false,
                          dst_tp_.get(), *registry_, nullptr, events_);
  EXPECT_TRUE(dest.Prepare().ok());

  auto record =
      std::make_shared<SessionRecord>(req.session_id(), v1::ROLE_SOURCE);
  auto src_devs = registry_->Claim(src_ids_, record->name());
  EXPECT_TRUE(src_devs.ok()) << src_devs.status();
  // A 1 MiB link probe: the probe's path is exercised without spending the
  // sanitizer builds' time on 16 MiB through the ring PMD.
  EngineTunables tunables;
  tunables.probe_bytes = 1u << 20;
  SourceEngine engine(
      record, req, src_ids_, *src_devs, *src_tp_, *registry_, history_,
      std::make_unique<FakePeerClient>(&dest, &hooks_), clock, tunables);
  engine.set_events(&events_);
  engine_ = &engine;
  dest_ = &dest;
  std::thread run([&] { engine.Run(); });
  if (during) during(*record);
  run.join();
  engine_ = nullptr;
  // A destination left behind (the source never committed nor aborted) is
  // cancelled by the test's end, as the daemon's shutdown would.
  (void)dest.Cancel("test over");
  dest_ = nullptr;
  return record->Snapshot();
}

uint64_t EngineRig::Digest(const std::string& id) {
  absl::StatusOr<v1::Device> d = registry_->Get(id);
  EXPECT_TRUE(d.ok());
  return d.ok() ? d->emulated_digest() : 0;
}

vfio::DeviceState EngineRig::State(const std::string& id) {
  auto dev = registry_->Find(id);
  EXPECT_TRUE(dev.ok());
  auto st = (*dev)->GetState();
  EXPECT_TRUE(st.ok());
  return st.ok() ? *st : vfio::DeviceState::kError;
}

}  // namespace vmig::daemon::testing
