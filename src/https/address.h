// Listen addresses: "ADDR:PORT" parsed by value, never by comparing strings.
//
// A server of CPR listens only where it is told: a wildcard (0.0.0.0, ::, or
// any spelling of them) would expose a signing or recovery endpoint on every
// interface. The host is an IP address in the form inet_pton accepts, or a
// DNS name; names are resolved here and every address they resolve to is
// checked again, and the server binds the checked address itself (it never
// hands the text to a resolver that reads "0" or "0x0" as 0.0.0.0).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::https {

struct HostPort {
  std::string host;  // without brackets; an IP in canonical form, or a DNS name
  int port = 0;
  bool is_ip = false;
  std::string Url() const;  // https://host:port, IPv6 bracketed
};

// Parses ADDR:PORT or [IPv6]:PORT. `flag` names the option in errors. Refuses
// an empty host, wildcard and multicast addresses in any spelling
// ("0.0.0.0", "::", "[::0]", "[::ffff:0.0.0.0]"), IPv4 forms that only
// inet_aton accepts ("0", "0x0", "127.1", "0177.0.0.1"), zone ids, bad ports.
Result<HostPort> ParseListen(const std::string& text, const std::string& flag = "--listen");

// Why no server may listen on `addr` (AF_INET or AF_INET6), or nullopt when it may.
std::optional<std::string> UnlistenableReason(const sockaddr* addr);

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// The addresses to bind for `hp`: the IP itself, or what the name resolves to
// (each checked with UnlistenableReason; a name that resolves to a wildcard
// is refused).
Result<std::vector<SocketAddress>> ResolveListen(const HostPort& hp, const std::string& flag);

// "192.0.2.1:443", "[2001:db8::1]:443"; with_port false gives the IP alone.
std::string FormatAddress(const sockaddr* addr, bool with_port = true);

}  // namespace cpr::https
