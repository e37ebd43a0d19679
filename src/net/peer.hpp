// A client's address, as the server judges it and as its log lines show it.
#pragma once

#include <sys/socket.h>

#include <string>

namespace count {

// True for a peer on this machine: 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104.
bool is_loopback(const sockaddr_storage& peer);

// "127.0.0.1:52114" or "[::1]:52114".
std::string peer_text(const sockaddr_storage& peer);

// The peer of a connected socket, or "a client that is gone" once it is not connected.
std::string peer_text(int fd);

}  // namespace count
