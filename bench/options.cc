#include "bench/options.h"

#include <iostream>

namespace vmig::bench {

int ParseOptions(const std::vector<std::string>& args,
                 const std::string& command, const char* usage,
                 std::map<std::string, std::string>& opt,
                 std::map<std::string, bool>* flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << usage;
      return 0;
    }
    if (flags && flags->count(args[i])) {
      (*flags)[args[i]] = true;
      continue;
    }
    if (!opt.count(args[i]) || i + 1 >= args.size()) {
      std::cerr << "vmig-bench " << command << ": bad option " << args[i]
                << "\n"
                << usage;
      return 2;
    }
    const std::string& key = args[i++];
    opt[key] = args[i];
  }
  return -1;
}

}  // namespace vmig::bench
