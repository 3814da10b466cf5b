// Minimal leveled logging to stderr. QS_LOG_LEVEL=debug|info|warn|error.
#pragma once

#include <sstream>
#include <string>

namespace qs {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

LogLevel log_level();
void set_log_level(LogLevel level);
void log_line(LogLevel level, const std::string& message);

}  // namespace qs

#define QS_LOG(level, expr)                                              \
  do {                                                                   \
    if (static_cast<int>(::qs::LogLevel::level) >=                       \
        static_cast<int>(::qs::log_level())) {                           \
      std::ostringstream qs_log_ss_;                                     \
      qs_log_ss_ << expr;                                                \
      ::qs::log_line(::qs::LogLevel::level, qs_log_ss_.str());           \
    }                                                                    \
  } while (0)
