#include "log/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace count {
namespace {

std::atomic<int> minimum_level{static_cast<int>(LogLevel::kInfo)};

// systemd sets JOURNAL_STREAM when stderr is connected to the journal.
const bool to_journal = std::getenv("JOURNAL_STREAM") != nullptr;

// sd-daemon(3) priorities: debug 7, info 6, warning 4, error 3.
char journal_priority(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return '7';
    case LogLevel::kInfo:
      return '6';
    case LogLevel::kWarning:
      return '4';
    case LogLevel::kError:
      break;
  }
  return '3';
}

}  // namespace

bool parse_log_level(std::string_view text, LogLevel& level) {
  for (const LogLevel candidate :
       {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    if (text == log_level_name(candidate)) {
      level = candidate;
      return true;
    }
  }
  return false;
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      break;
  }
  return "error";
}

void set_log_level(LogLevel level) {
  minimum_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) >= minimum_level.load(std::memory_order_relaxed);
}

void log_line(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  std::string line;
  line.reserve(message.size() + 32);
  if (to_journal) {
    line += '<';
    line += journal_priority(level);
    line += '>';
  }
  line += "count-server: ";
  line += log_level_name(level);
  line += ": ";
  line += message;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);  // one call: lines of threads do not mix
}

}  // namespace count
