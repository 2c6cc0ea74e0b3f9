// One command's options (a vmigctl or vmig-bench command), declared and
// then parsed by CLI11 (Debian's libcli11-dev; vmigd's own options too): its
// own --help (the command's text, then CLI11's list of its options, then a
// footer), unknown options named, required arguments checked.
#ifndef VMIGD_COMMON_COMMAND_LINE_H_
#define VMIGD_COMMON_COMMAND_LINE_H_

#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace vmig {

class CommandLine {
 public:
  // `name`: "vmigctl migrate start"; `help`: what the command does.
  // `footer`: printed after the options in --help (the global options).
  CommandLine(const std::string& name, const std::string& help,
              const std::string& footer = "");
  ~CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // Declarations; each returns where the value lands after Parse().
  const std::string& Option(const std::string& flag, const std::string& help,
                            const std::string& value_name = "VALUE");
  const std::vector<std::string>& Repeated(const std::string& flag,
                                           const std::string& help,
                                           const std::string& value_name);
  const bool& Flag(const std::string& flag, const std::string& help);
  // A required positional argument.
  const std::string& Positional(const std::string& name,
                                const std::string& help);

  // -1 to go on; 0 after printing --help to `out`; 2 after a usage error
  // printed to `err` ("vmigctl migrate start: unknown option --x").
  int Parse(const std::vector<std::string>& args, std::ostream& out = std::cout,
            std::ostream& err = std::cerr);
  // Whether the option was on the command line (an empty value counts).
  bool Given(const std::string& flag) const;
  // A usage error found after parsing (a bad value): printed like Parse's.
  int Fail(const std::string& why, std::ostream& err = std::cerr) const;

 private:
  std::string name_;
  std::unique_ptr<CLI::App> app_;
  std::deque<std::string> strings_;
  std::deque<std::vector<std::string>> lists_;
  std::deque<bool> flags_;
};

}  // namespace vmig

#endif  // VMIGD_COMMON_COMMAND_LINE_H_
