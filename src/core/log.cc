#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace qs {

namespace {
LogLevel initial_level() {
  const char* e = std::getenv("QS_LOG_LEVEL");
  if (e == nullptr) return LogLevel::Info;
  if (std::strcmp(e, "debug") == 0) return LogLevel::Debug;
  if (std::strcmp(e, "warn") == 0) return LogLevel::Warn;
  if (std::strcmp(e, "error") == 0) return LogLevel::Error;
  return LogLevel::Info;
}
std::atomic<int> g_level{static_cast<int>(initial_level())};
std::mutex g_mu;
}  // namespace

LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }
void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }

void log_line(LogLevel level, const std::string& message) {
  static const char* kTags[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "[%s] %s\n", kTags[static_cast<int>(level)], message.c_str());
}

}  // namespace qs
