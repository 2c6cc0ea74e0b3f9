#include "control/server/logging.h"

#include <memory>

#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace vmig::server {
namespace {

// "%*": the syslog priority of the message's level, as journald reads it.
class PriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    char p = '6';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        p = '7';
        break;
      case spdlog::level::info:
        p = '6';
        break;
      case spdlog::level::warn:
        p = '4';
        break;
      case spdlog::level::err:
        p = '3';
        break;
      default:
        p = '2';
    }
    dest.push_back('<');
    dest.push_back(p);
    dest.push_back('>');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityFlag>();
  }
};

spdlog::level::level_enum ToSpd(v1::DaemonConfig::LogLevel level) {
  switch (level) {
    case v1::DaemonConfig::LOG_LEVEL_TRACE:
      return spdlog::level::trace;
    case v1::DaemonConfig::LOG_LEVEL_DEBUG:
      return spdlog::level::debug;
    case v1::DaemonConfig::LOG_LEVEL_WARN:
      return spdlog::level::warn;
    case v1::DaemonConfig::LOG_LEVEL_ERROR:
      return spdlog::level::err;
    default:
      return spdlog::level::info;
  }
}

}  // namespace

void InitLogging(v1::DaemonConfig::LogLevel level) {
  auto logger = std::make_shared<spdlog::logger>(
      "vmigd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<PriorityFlag>('*').set_pattern("%*%v");
  logger->set_formatter(std::move(formatter));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  SetLogLevel(level);
}

void SetLogLevel(v1::DaemonConfig::LogLevel level) {
  spdlog::set_level(ToSpd(level));
}

}  // namespace vmig::server
