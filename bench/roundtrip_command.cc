#include "bench/roundtrip_command.h"

#include <cstdio>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
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
  std::string src_spec = "emu:name=src,state=1GiB,dirty=32MiB/s,seed=1";
  std::string dst_spec = "emu:name=dst,state=1GiB,seed=2";
  uint64_t switchover_dirty = 4 << 20;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "vmig-bench roundtrip: " << a << " needs a value\n"
                << kUsage;
      return 2;
    }
    const std::string& v = args[++i];
    if (a == "--src") {
      src_spec = v;
    } else if (a == "--dst") {
      dst_spec = v;
    } else if (a == "--switchover-dirty") {
      auto b = ParseBytes(v);
      if (!b.ok()) {
        std::cerr << "vmig-bench roundtrip: --switchover-dirty: "
                  << b.status().message() << "\n";
        return 2;
      }
      switchover_dirty = *b;
    } else {
      std::cerr << "vmig-bench roundtrip: unknown option " << a << "\n"
                << kUsage;
      return 2;
    }
  }
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
