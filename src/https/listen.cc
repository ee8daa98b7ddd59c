#include "https/listen.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include "pki/etcd_pki.h"

namespace cpr::https {

std::string ListenAddress::Url() const {
  return host.find(':') != std::string::npos ? fmt::format("https://[{}]:{}", host, port)
                                             : fmt::format("https://{}:{}", host, port);
}

Result<ListenAddress> ParseListen(const std::string& text) {
  ListenAddress a;
  std::string port;
  auto bad = [&](const std::string& why) -> Result<ListenAddress> {
    return MakeError(Code::kInvalidArgument, "--listen", fmt::format("'{}': {}", text, why),
                     "give ADDR:PORT with the address clients reach, e.g. 10.0.0.5:9943");
  };
  if (text.starts_with("[")) {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("expected [IPv6]:PORT");
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
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
  if (a.host.empty() || a.host == "0.0.0.0" || a.host == "::" || a.host == "*")
    return bad("a wildcard address; CPR listens only where it is told");
  unsigned char buf[16];
  a.is_ip =
      inet_pton(AF_INET, a.host.c_str(), buf) == 1 || inet_pton(AF_INET6, a.host.c_str(), buf) == 1;
  if (!a.is_ip && !pki::ValidHostName(a.host)) return bad("not an IP address or host name");
  return a;
}

}  // namespace cpr::https
