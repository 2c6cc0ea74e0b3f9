#include "control/server/dpdk_log.h"

#include <rte_log.h>
#include <stdio.h>

#include <string>

#include "spdlog/spdlog.h"

namespace vmig::server {
namespace {

spdlog::level::level_enum FromDpdk(int level) {
  switch (level) {
    case RTE_LOG_EMERG:
    case RTE_LOG_ALERT:
    case RTE_LOG_CRIT:
      return spdlog::level::critical;
    case RTE_LOG_ERR:
      return spdlog::level::err;
    case RTE_LOG_WARNING:
      return spdlog::level::warn;
    case RTE_LOG_NOTICE:
    case RTE_LOG_INFO:
      return spdlog::level::info;
    default:
      return spdlog::level::debug;
  }
}

// fopencookie's write: DPDK hands a message (one or more lines, or part of
// one); each complete line is logged, the rest waits for the next write.
// DPDK logs from its own threads too: the partial line is per thread.
ssize_t WriteToSpdlog(void*, const char* buf, size_t size) {
  thread_local std::string pending;
  pending.append(buf, size);
  for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
    if (nl > 0) {
      spdlog::log(FromDpdk(rte_log_cur_msg_loglevel()), "dpdk: {}",
                  pending.substr(0, nl));
    }
    pending.erase(0, nl + 1);
  }
  return static_cast<ssize_t>(size);
}

}  // namespace

void RouteDpdkLogThroughSpdlog() {
  cookie_io_functions_t io = {};
  io.write = WriteToSpdlog;
  FILE* stream = fopencookie(nullptr, "w", io);
  if (stream == nullptr) return;  // DPDK keeps its own stream
  setvbuf(stream, nullptr, _IOLBF, 0);
  rte_openlog_stream(stream);
}

}  // namespace vmig::server
