#include "bench/options.h"

#include "common/command_line.h"

namespace vmig::bench {

int ParseOptions(const std::vector<std::string>& args,
                 const std::string& command, const char* usage,
                 std::map<std::string, std::string>& opt,
                 std::map<std::string, bool>* flags) {
  // The command's own text says what each option does; the parser lists
  // the options with their defaults below it.
  CommandLine cl("vmig-bench " + command, usage);
  std::map<std::string, const std::string*> values;
  for (const auto& [key, value] : opt) {
    values[key] =
        &cl.Option(key, "default: " + (value.empty() ? "none" : value));
  }
  std::map<std::string, const bool*> set;
  if (flags) {
    for (const auto& [key, v] : *flags) set[key] = &cl.Flag(key, "");
  }
  if (int rc = cl.Parse(args); rc >= 0) return rc;
  for (const auto& [key, v] : values) {
    if (cl.Given(key)) opt[key] = *v;
  }
  for (const auto& [key, v] : set) (*flags)[key] = *v;
  return -1;
}

}  // namespace vmig::bench
