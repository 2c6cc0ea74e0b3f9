// The conformance catalogue: what a device backend answers to every arc
// vmigd's planner can ask for (and to the ones it never asks for), to the
// data_fd's reads and writes, PRECOPY_INFO, MIG_DATA_SIZE and resets. Each
// case gives an outcome text; the same case on the real kernel, the fake
// kernel and the emulated device must agree, or the difference is written
// down with its reason (documented_differences.tsv).
#ifndef VMIGD_TESTS_VFIO_CONFORMANCE_CATALOGUE_H_
#define VMIGD_TESTS_VFIO_CONFORMANCE_CATALOGUE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/vfio/conformance/backends.h"
#include "vfio/state.h"

namespace vmig::vfio::conformance {

struct Case {
  std::string name;
  // The outcome on a backend, or "n/a" where the backend cannot express
  // the case.
  std::function<std::string(Backend&)> run;
  // For arcs: what vmigd's planner expects (the kernel's table), the
  // reference for flag sets no kernel device here offers.
  std::optional<std::string> planner;
};

// The cases for devices with `flags`: arcs from every state the flags
// allow to every state (ERROR and a value outside the enum included), and,
// with all three flags, the data_fd, PRECOPY_INFO, MIG_DATA_SIZE, resume
// and reset cases.
std::vector<Case> Catalogue(MigrationFlags flags);

// Outcomes compared: "[...]" holds the raw errno or return value, compared
// only between two backends that make syscalls (kernel and fake).
bool SameOutcome(const std::string& a, bool a_syscalls, const std::string& b,
                 bool b_syscalls);

}  // namespace vmig::vfio::conformance

#endif  // VMIGD_TESTS_VFIO_CONFORMANCE_CATALOGUE_H_
