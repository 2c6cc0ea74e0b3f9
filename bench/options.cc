#include "bench/options.h"

#include <iostream>

#include "CLI/CLI.hpp"

namespace vmig::bench {

int ParseOptions(const std::vector<std::string>& args,
                 const std::string& command, const char* usage,
                 std::map<std::string, std::string>& opt,
                 std::map<std::string, bool>* flags) {
  // CLI11 (libcli11-dev), as vmigd and vmigctl parse theirs: unknown or
  // valueless options named, --help per command.
  CLI::App app{usage, "vmig-bench " + command};
  // The command's own text says what each option does; CLI11 adds the
  // list of options with their defaults below it.
  for (auto& [key, value] : opt) {
    app.add_option(key, value, "default: " + (value.empty() ? "none" : value))
        ->type_name("VALUE");
  }
  if (flags) {
    for (auto& [key, set] : *flags) app.add_flag(key, set);
  }
  // What CLI11 does not know is named here, first to last.
  app.allow_extras();
  auto fail = [&](const std::string& why) {
    std::cerr << "vmig-bench " << command << ": " << why << "\n"
              << "Run 'vmig-bench " << command << " --help' for its options.\n";
    return 2;
  };
  // CLI11 takes the arguments last first.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      std::cout << app.help();
      return 0;
    }
    return fail(e.what());
  }
  for (const std::string& extra : app.remaining()) {
    return fail(extra.rfind("-", 0) == 0 ? "unknown option " + extra
                                         : "unexpected argument " + extra);
  }
  return -1;
}

}  // namespace vmig::bench
