// The option parsing every vmig-bench command shares.
#ifndef VMIGD_BENCH_OPTIONS_H_
#define VMIGD_BENCH_OPTIONS_H_

#include <map>
#include <string>
#include <vector>

namespace vmig::bench {

// Fills `opt` (its keys are the known options, its values their defaults)
// from "--key value" pairs, and sets the bare flags that `flags` names.
// Returns -1 to go on, or the exit code: 0 after printing `usage` for
// --help, 2 after reporting a bad option.
int ParseOptions(const std::vector<std::string>& args,
                 const std::string& command, const char* usage,
                 std::map<std::string, std::string>& opt,
                 std::map<std::string, bool>* flags = nullptr);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_OPTIONS_H_
