// vfio_conformance: runs the conformance catalogue on the fake kernel and
// the emulated device (every flag set) and, given mtty mdevs, on the real
// kernel; compares each case with the kernel's outcome (where the kernel
// ran it) or the planner's (arcs under flag sets no real device here has);
// looks every difference up in the documented list; prints the table as
// Markdown and a JSON summary as its last line. Exit 0 only when every
// difference is documented and every documented one still stands.
//
//   vfio_conformance --documented FILE [--mdevs FILE] [--markdown OUT]
//
// --mdevs names a file of "UUID /dev/vfio/N" lines (the VM rig's
// /tmp/job/mdevs); its first two mdevs are used.
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/vfio/conformance/catalogue.h"

namespace vmig::vfio::conformance {
namespace {

struct Documented {
  std::map<std::pair<std::string, std::string>, std::string> reasons;
  std::set<std::pair<std::string, std::string>> used;
};

// Lines "CASE<TAB>BACKEND<TAB>REASON"; '#' starts a comment line.
absl::StatusOr<Documented> LoadDocumented(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  Documented d;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() != 3 || f[2].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": want CASE<TAB>BACKEND<TAB>REASON"));
    }
    d.reasons[{f[0], f[1]}] = f[2];
  }
  return d;
}

std::string Cell(std::string s) {
  for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2)
    s.replace(i, 1, "\\|");
  return s;
}

struct Summary {
  int cases = 0, differ = 0, documented = 0, undocumented = 0;
};

int Run(const std::string& documented_path, const std::string& mdevs_path,
        const std::string& markdown_path) {
  absl::StatusOr<Documented> doc = LoadDocumented(documented_path);
  if (!doc.ok()) {
    std::cerr << doc.status() << "\n";
    return 2;
  }
  std::unique_ptr<Backend> kernel;
  if (!mdevs_path.empty()) {
    std::ifstream in(mdevs_path);
    std::vector<std::pair<std::string, std::string>> mdevs;
    std::string uuid, group;
    while (in >> uuid >> group) mdevs.emplace_back(uuid, group);
    absl::StatusOr<std::unique_ptr<Backend>> k = MakeKernelBackend(mdevs);
    if (!k.ok()) {
      std::cerr << "vfio_conformance: the kernel backend: " << k.status()
                << "\n";
      return 2;
    }
    kernel = std::move(*k);
    if (kernel->flags() != kAllMigrationFlags) {
      std::cerr << "vfio_conformance: the mdevs offer "
                << kernel->flags().ToString() << ", not all three flags\n";
      return 2;
    }
  }
  std::ostringstream md;
  md << "| case | kernel (mtty) | fake kernel | emulated | verdict |\n"
     << "|---|---|---|---|---|\n";
  Summary sum;
  const std::vector<MigrationFlags> flag_sets = {
      kAllMigrationFlags, MigrationFlags(kMigStopCopy),
      MigrationFlags(kMigStopCopy | kMigP2P),
      MigrationFlags(kMigStopCopy | kMigPreCopy)};
  for (MigrationFlags flags : flag_sets) {
    std::unique_ptr<Backend> fake = MakeFakeBackend(flags);
    std::unique_ptr<Backend> emu = MakeEmuBackend(flags);
    Backend* with_kernel = flags == kAllMigrationFlags ? kernel.get() : nullptr;
    for (const Case& c : Catalogue(flags)) {
      ++sum.cases;
      const std::string k = with_kernel ? c.run(*with_kernel) : "";
      const std::string f = c.run(*fake);
      const std::string e = c.run(*emu);
      // The reference: the kernel where it ran the case, else the planner.
      std::string ref;
      bool ref_syscalls = false;
      if (!k.empty() && k != "n/a") {
        ref = k;
        ref_syscalls = true;
      } else if (c.planner) {
        ref = *c.planner;
      }
      std::vector<std::string> verdicts;
      bool undocumented = false;
      auto judge = [&](const std::string& backend, const std::string& got,
                       bool syscalls) {
        if (ref.empty() || got == "n/a") return;
        if (SameOutcome(ref, ref_syscalls, got, syscalls)) return;
        ++sum.differ;
        auto it = doc->reasons.find({c.name, backend});
        if (it != doc->reasons.end()) {
          ++sum.documented;
          doc->used.insert(it->first);
          verdicts.push_back(absl::StrCat(backend, " differs: ", it->second));
        } else {
          ++sum.undocumented;
          undocumented = true;
          verdicts.push_back(absl::StrCat(backend, " DIFFERS, undocumented"));
        }
      };
      judge("fake", f, true);
      judge("emu", e, false);
      std::string verdict =
          ref.empty() ? "no reference here (kernel only)"
          : verdicts.empty()
              ? (ref_syscalls ? "agree" : "agree with the planner")
              : absl::StrJoin(verdicts, "; ");
      md << "| " << Cell(c.name) << " | " << Cell(k.empty() ? "-" : k) << " | "
         << Cell(f) << " | " << Cell(e) << " | " << Cell(verdict) << " |\n";
      if (undocumented) {
        std::cerr << "UNDOCUMENTED: " << c.name << "\n  reference: " << ref
                  << "\n  fake: " << f << "\n  emu: " << e << "\n";
      }
    }
  }
  // A documented difference that was compared and no longer differs is
  // stale: the list must say what is true.
  int stale = 0;
  for (const auto& [key, reason] : doc->reasons) {
    const bool kernel_entry = true;  // every entry is against the kernel
    if (kernel_entry && !kernel) continue;
    if (!doc->used.count(key)) {
      ++stale;
      std::cerr << "STALE: documented difference no longer seen: " << key.first
                << " (" << key.second << ")\n";
    }
  }
  if (!markdown_path.empty()) {
    std::ofstream out(markdown_path);
    out << md.str();
  } else {
    std::cout << md.str();
  }
  std::cout << "{\"cases\": " << sum.cases << ", \"differ\": " << sum.differ
            << ", \"documented\": " << sum.documented
            << ", \"undocumented\": " << sum.undocumented
            << ", \"stale\": " << stale
            << ", \"kernel\": " << (kernel ? "true" : "false") << "}\n";
  return sum.undocumented == 0 && stale == 0 ? 0 : 1;
}

}  // namespace
}  // namespace vmig::vfio::conformance

int main(int argc, char** argv) {
  CLI::App app("The VFIO conformance catalogue: real kernel, fake, emulated");
  std::string documented, mdevs, markdown;
  app.add_option("--documented", documented,
                 "the documented differences (CASE<TAB>BACKEND<TAB>REASON)")
      ->required();
  app.add_option("--mdevs", mdevs,
                 "a file of 'UUID /dev/vfio/N' lines: run on the real kernel");
  app.add_option("--markdown", markdown, "write the table here");
  CLI11_PARSE(app, argc, argv);
  return vmig::vfio::conformance::Run(documented, mdevs, markdown);
}
