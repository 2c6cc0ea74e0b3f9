#include "bench/roundtrip_command.h"

#include <cstdio>
#include <iostream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "bench/options.h"
#include "common/units.h"
#include "vfio/emu/emu_device.h"
#include "vfio/local_migration.h"

namespace vmig::bench {
namespace {

constexpr char kUsage[] =
    "usage: vmig-bench roundtrip [--src SPEC] [--dst SPEC] [--switchover-dirty "
    "SIZE]\n"
    "\n"
    "Migrates an emulated source device into an emulated destination in this\n"
    "process (PRE_COPY, STOP_COPY, load, resume) and verifies the digests.\n"
    "Defaults: --src emu:name=src,state=1GiB,dirty=32MiB/s,seed=1\n"
    "          --dst emu:name=dst,state=1GiB,seed=2   --switchover-dirty "
    "4MiB\n";

}  // namespace

int RunRoundtrip(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {
      {"--src", "emu:name=src,state=1GiB,dirty=32MiB/s,seed=1"},
      {"--dst", "emu:name=dst,state=1GiB,seed=2"},
      {"--switchover-dirty", "4MiB"}};
  if (int rc = ParseOptions(args, "roundtrip", kUsage, opt); rc >= 0) return rc;
  const std::string src_spec = opt["--src"], dst_spec = opt["--dst"];
  auto b = ParseBytes(opt["--switchover-dirty"]);
  if (!b.ok()) {
    std::cerr << "vmig-bench roundtrip: --switchover-dirty: "
              << b.status().message() << "\n";
    return 2;
  }
  const uint64_t switchover_dirty = *b;
  auto src = vfio::emu::EmuDevice::Create(src_spec);
  auto dst = vfio::emu::EmuDevice::Create(dst_spec);
  for (auto* d : {&src, &dst}) {
    if (!d->ok()) {
      std::cerr << "vmig-bench roundtrip: " << d->status().message() << "\n";
      return 2;
    }
  }
  std::printf("source      %s\ndestination %s\n",
              (*src)->spec().ToString().c_str(),
              (*dst)->spec().ToString().c_str());
  vfio::LocalMigrationOptions opts;
  opts.switchover_dirty_bytes = switchover_dirty;
  auto r = vfio::MigrateLocally(**src, **dst, opts);
  if (!r.ok()) {
    std::fprintf(stderr, "migration failed: %s\n",
                 std::string(r.status().message()).c_str());
    std::printf("{\"verified\":false}\n");
    return 1;
  }
  const uint64_t sd = (*src)->StateDigest(), dd = (*dst)->StateDigest();
  const bool verified = sd == dd;
  const double pre_s = absl::ToDoubleSeconds(r->precopy_time);
  const double down_ms = absl::ToDoubleMilliseconds(r->downtime);
  std::printf("pre-copy    %s in %.3f s (%s), %d rounds\n",
              FormatBytes(static_cast<double>(r->precopy_bytes)).c_str(), pre_s,
              FormatRate(pre_s > 0 ? r->precopy_bytes / pre_s : 0).c_str(),
              r->precopy_rounds);
  std::printf("stop-copy   %s, downtime %.2f ms\n",
              FormatBytes(static_cast<double>(r->stopcopy_bytes)).c_str(),
              down_ms);
  std::printf("digests     source %016llx destination %016llx: %s\n",
              static_cast<unsigned long long>(sd),
              static_cast<unsigned long long>(dd),
              verified ? "equal" : "DIFFERENT");
  std::printf(
      "{\"precopy_bytes\":%llu,\"stopcopy_bytes\":%llu,\"precopy_rounds\":%d,"
      "\"downtime_ms\":%.3f,\"verified\":%s}\n",
      static_cast<unsigned long long>(r->precopy_bytes),
      static_cast<unsigned long long>(r->stopcopy_bytes), r->precopy_rounds,
      down_ms, verified ? "true" : "false");
  return verified ? 0 : 1;
}

}  // namespace vmig::bench
