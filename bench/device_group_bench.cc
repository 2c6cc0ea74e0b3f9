// A barrier's cost across a group of emulated devices with instant arcs:
// the group's pool of arc threads (started once) against the thread per
// arc the group used before, measured in the same run. With real arcs of
// milliseconds both are dwarfed; what the pool removes is the per-barrier
// thread creation that a lockstep of many devices pays on every arc.
//
//   build/bench/vmig_micro_bench --benchmark_filter='Barrier'
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "vfio/device_group.h"
#include "vfio/emu/emu_device.h"

namespace vmig::vfio {
namespace {

std::vector<std::shared_ptr<MigrationDevice>> Devices(int n) {
  std::vector<std::shared_ptr<MigrationDevice>> devices;
  for (int i = 0; i < n; ++i) {
    auto d = emu::EmuDevice::Create("emu:state=64KiB");
    if (!d.ok()) return {};
    devices.push_back(std::shared_ptr<MigrationDevice>(std::move(*d)));
  }
  return devices;
}

// The baseline: a thread per device per barrier, as ParallelFor did.
void BM_BarrierThreadPerArc(benchmark::State& state) {
  auto devices = Devices(static_cast<int>(state.range(0)));
  if (devices.empty()) return state.SkipWithError("emulated device");
  DeviceState target = DeviceState::kRunningP2P;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    threads.reserve(devices.size());
    for (auto& d : devices)
      threads.emplace_back([&d, target] { (void)d->SetState(target); });
    for (auto& t : threads) t.join();
    target = target == DeviceState::kRunning ? DeviceState::kRunningP2P
                                             : DeviceState::kRunning;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BarrierThreadPerArc)->Arg(4)->Arg(16)->UseRealTime();

// The group's barrier on its pool.
void BM_BarrierOnArcPool(benchmark::State& state) {
  auto devices = Devices(static_cast<int>(state.range(0)));
  if (devices.empty()) return state.SkipWithError("emulated device");
  DeviceGroup group;
  for (size_t i = 0; i < devices.size(); ++i)
    (void)group.Add(absl::StrCat("d", i), devices[i], Recovery::kResume);
  DeviceState target = DeviceState::kRunningP2P;
  for (auto _ : state) {
    (void)group.MoveAll(target, DeviceGroup::Schedule::kParallel, nullptr);
    target = target == DeviceState::kRunning ? DeviceState::kRunningP2P
                                             : DeviceState::kRunning;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BarrierOnArcPool)->Arg(4)->Arg(16)->UseRealTime();

}  // namespace
}  // namespace vmig::vfio
