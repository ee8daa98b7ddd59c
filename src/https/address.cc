#include "https/address.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>

#include <cstring>

#include "pki/etcd_pki.h"

namespace cpr::https {
namespace {

bool AllZero(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

std::optional<std::string> Ipv4Reason(const unsigned char* a) {
  if (AllZero(a, 4)) return "the unspecified (wildcard) address";
  if (a[0] >= 224 && a[0] <= 239) return "a multicast address";
  if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255) return "the broadcast address";
  return std::nullopt;
}

}  // namespace

std::string HostPort::Url() const {
  return host.find(':') != std::string::npos ? fmt::format("https://[{}]:{}", host, port)
                                             : fmt::format("https://{}:{}", host, port);
}

std::optional<std::string> UnlistenableReason(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    return Ipv4Reason(reinterpret_cast<const unsigned char*>(&in->sin_addr));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    const unsigned char* b = in6->sin6_addr.s6_addr;
    if (AllZero(b, 16)) return "the unspecified (wildcard) address";
    if (b[0] == 0xff) return "a multicast address";
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible): judge the IPv4 part.
    const bool mapped = AllZero(b, 10) && b[10] == 0xff && b[11] == 0xff;
    const bool compatible = AllZero(b, 12);
    if (mapped || compatible) {
      if (auto r = Ipv4Reason(b + 12)) return "an IPv4-in-IPv6 form of " + *r;
    }
    return std::nullopt;
  }
  return "not an IP address";
}

Result<HostPort> ParseListen(const std::string& text, const std::string& flag) {
  HostPort a;
  std::string port;
  auto bad = [&](const std::string& why) -> Result<HostPort> {
    return MakeError(Code::kInvalidArgument, flag, fmt::format("'{}': {}", text, why),
                     "give ADDR:PORT with an address of this host, e.g. 10.0.0.5:9943");
  };
  bool bracketed = false;
  if (text.starts_with("[")) {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("expected [IPv6]:PORT");
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    bracketed = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (a.host.find(':') != std::string::npos) return bad("bracket IPv6 addresses: [::1]:9943");
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return bad("bad port");
  a.port = std::stoi(port);
  if (a.port < 1 || a.port > 65535) return bad("port out of range");
  if (a.host.empty()) return bad("no address: that would be the wildcard");
  if (a.host.find('%') != std::string::npos) return bad("zone ids are not supported");

  sockaddr_storage ss{};
  if (bracketed) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, a.host.c_str(), &in6->sin6_addr) != 1)
      return bad("not an IPv6 address inside the brackets");
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    if (inet_pton(AF_INET, a.host.c_str(), &in->sin_addr) != 1) {
      // inet_aton (and so getaddrinfo) reads "0", "0x0", "127.1", "0177.0.0.1"
      // as addresses: a name of that shape is an address in disguise.
      sockaddr_in legacy{};
      legacy.sin_family = AF_INET;
      if (inet_aton(a.host.c_str(), &legacy.sin_addr) == 1) {
        const auto* l = reinterpret_cast<const sockaddr*>(&legacy);
        const auto why = UnlistenableReason(l);
        return bad(fmt::format("resolvers read it as {}{}; write an IPv4 address as a.b.c.d",
                               FormatAddress(l, false), why ? ", " + *why : std::string()));
      }
      if (!pki::ValidHostName(a.host) || a.host == "*")
        return bad("not an IP address or host name");
      return a;  // a name: ResolveListen checks what it resolves to
    }
  }
  if (auto why = UnlistenableReason(reinterpret_cast<const sockaddr*>(&ss)))
    return bad(*why + "; listen only on an address given explicitly");
  char canon[INET6_ADDRSTRLEN] = {0};
  const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
  const void* raw =
      sa->sa_family == AF_INET
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr);
  inet_ntop(sa->sa_family, raw, canon, sizeof canon);
  a.host = canon;
  a.is_ip = true;
  return a;
}

Result<std::vector<SocketAddress>> ResolveListen(const HostPort& hp, const std::string& flag) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (hp.is_ip ? AI_NUMERICHOST : 0);
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  const int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0)
    return MakeError(Code::kInvalidArgument, flag,
                     fmt::format("cannot resolve '{}': {}", hp.host, gai_strerror(rc)));
  std::vector<SocketAddress> out;
  std::optional<std::string> refused;
  for (addrinfo* p = res; p; p = p->ai_next) {
    if (p->ai_addrlen > sizeof(sockaddr_storage)) continue;
    if (auto why = UnlistenableReason(p->ai_addr)) {
      refused =
          fmt::format("'{}' resolves to {} ({})", hp.host, FormatAddress(p->ai_addr, false), *why);
      break;
    }
    SocketAddress s;
    std::memcpy(&s.storage, p->ai_addr, p->ai_addrlen);
    s.length = p->ai_addrlen;
    out.push_back(s);
  }
  freeaddrinfo(res);
  if (refused) return MakeError(Code::kInvalidArgument, flag, *refused);
  if (out.empty())
    return MakeError(Code::kInvalidArgument, flag, fmt::format("'{}' has no address", hp.host));
  return out;
}

std::string FormatAddress(const sockaddr* addr, bool with_port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    return with_port ? fmt::format("{}:{}", buf, ntohs(in->sin_port)) : std::string(buf);
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    return with_port ? fmt::format("[{}]:{}", buf, ntohs(in6->sin6_port)) : std::string(buf);
  }
  return "?";
}

}  // namespace cpr::https
