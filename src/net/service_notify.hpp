// Tells systemd how a Type=notify service is doing: ready once it listens, stopping once it
// begins to shut down. Outside systemd (NOTIFY_SOCKET unset) both calls do nothing. Each is one
// datagram on a socket of its own: safe from any thread, never throws, never waits for systemd.
#pragma once

#include <string_view>

namespace count {

// Sends "READY=1\nSTATUS=<status>": call once, after the server listens and has said so.
// `status` is one line for `systemctl status` (a newline in it becomes a space, so it cannot
// start another field). A failed send is logged on stderr and otherwise ignored: systemd then
// fails the start after its timeout, which says more than stopping here would.
void notify_ready(std::string_view status);

// Sends "STOPPING=1": call once, when shutdown begins, so that systemd shows "deactivating"
// instead of a service that stopped answering. A failed send is logged and ignored.
void notify_stopping();

}  // namespace count
