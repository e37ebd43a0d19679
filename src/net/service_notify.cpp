// The two notifications of a Type=notify service, sent through libsystemd's sd_notify.
#include "net/service_notify.hpp"

#include <fmt/core.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <system_error>

#include "log/log.hpp"

namespace count {
namespace {

// sd_notify returns 0 without sending when NOTIFY_SOCKET is unset, and keeps the variable
// (unset_environment = 0) so that STOPPING=1 can follow READY=1.
void notify(const std::string& state) {
  const int result = sd_notify(0, state.c_str());
  if (result < 0) {
    log(LogLevel::kWarning, "cannot notify systemd ({}): {}", state.substr(0, state.find('\n')),
        std::system_category().message(-result));
  }
}

}  // namespace

void notify_ready(std::string_view status) {
  std::string state = "READY=1\nSTATUS=";
  const std::size_t start = state.size();
  state += status;
  std::replace(state.begin() + static_cast<std::ptrdiff_t>(start), state.end(), '\n', ' ');
  notify(state);
}

void notify_stopping() { notify("STOPPING=1"); }

}  // namespace count
