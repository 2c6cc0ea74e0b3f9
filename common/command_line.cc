#include "common/command_line.h"

#include "CLI/CLI.hpp"

namespace vmig {

CommandLine::CommandLine(const std::string& name, const std::string& help,
                         const std::string& footer)
    : name_(name), app_(std::make_unique<CLI::App>(help, name)) {
  if (!footer.empty()) app_->footer(footer);
  // Unknown arguments are named by Parse(), first to last.
  app_->allow_extras();
}

CommandLine::~CommandLine() = default;

const std::string& CommandLine::Option(const std::string& flag,
                                       const std::string& help,
                                       const std::string& value_name) {
  std::string& v = strings_.emplace_back();
  app_->add_option(flag, v, help)->type_name(value_name);
  return v;
}

const std::vector<std::string>& CommandLine::Repeated(
    const std::string& flag, const std::string& help,
    const std::string& value_name) {
  std::vector<std::string>& v = lists_.emplace_back();
  // One value per occurrence, every occurrence kept.
  app_->add_option(flag, v, help)
      ->type_name(value_name)
      ->allow_extra_args(false)
      ->take_all();
  return v;
}

const bool& CommandLine::Flag(const std::string& flag,
                              const std::string& help) {
  bool& v = flags_.emplace_back(false);
  app_->add_flag(flag, v, help);
  return v;
}

const std::string& CommandLine::Positional(const std::string& name,
                                           const std::string& help) {
  std::string& v = strings_.emplace_back();
  app_->add_option(name, v, help)->required();
  return v;
}

int CommandLine::Fail(const std::string& why, std::ostream& err) const {
  err << name_ << ": " << why << "\n"
      << "Run '" << name_ << " --help' for its options.\n";
  return 2;
}

int CommandLine::Parse(const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err) {
  // CLI11 takes the arguments last first.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app_->parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app_->help();
    return 0;
  } catch (const CLI::ParseError& e) {
    return Fail(e.what(), err);
  }
  for (const std::string& extra : app_->remaining()) {
    return Fail(extra.size() > 1 && extra[0] == '-'
                    ? "unknown option " + extra
                    : "unexpected argument '" + extra + "'",
                err);
  }
  return -1;
}

bool CommandLine::Given(const std::string& flag) const {
  const CLI::Option* o = app_->get_option_no_throw(flag);
  return o && o->count() > 0;
}

}  // namespace vmig
