// Where and how a benchmark ran, for the files it writes: the machine (CPU
// model, cores, kernel, hugepages), vmigd's version and revision, the date
// and the command line. A figure without these cannot be compared.
#ifndef VMIGD_BENCH_PROVENANCE_H_
#define VMIGD_BENCH_PROVENANCE_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace vmig::bench {

nlohmann::json Provenance(const std::vector<std::string>& command_line);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_PROVENANCE_H_
