// count-server's log: one line per event on stderr, each with its level ("count-server:
// warning: ..."), filtered by --log-level. Under systemd (stderr going to the journal), each
// line starts with the journal's priority prefix instead ("<4>count-server: warning: ..."),
// so that `journalctl -p warning` finds it. Any thread: a line is written with one call.
#pragma once

#include <fmt/core.h>

#include <atomic>
#include <string>
#include <string_view>

namespace count {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// "debug", "info", "warning", "error"; false for anything else.
bool parse_log_level(std::string_view text, LogLevel& level);
std::string_view log_level_name(LogLevel level);

// Lines below `level` are dropped. Default: info.
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

// Writes one whole line; `message` has no '\n'.
void log_line(LogLevel level, std::string_view message);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (!log_enabled(level)) return;
  log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace count
