#include "client/endpoint.h"

#include <charconv>

namespace cpr::client {

std::string Endpoint::Target() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

Result<Endpoint> ParseEndpoint(std::string_view text, const std::string& where) {
  auto bad = [&](const std::string& why) -> Error {
    return MakeError(Code::kInvalidArgument, where,
                     "bad endpoint '" + std::string(text) + "': " + why,
                     "use host:port or http(s)://host:port, e.g. 127.0.0.1:2379");
  };
  Endpoint e;
  e.text = std::string(text);
  std::string_view rest = text;
  if (const size_t p = rest.find("://"); p != std::string_view::npos) {
    const std::string_view scheme = rest.substr(0, p);
    if (scheme == "http") {
      e.scheme = Scheme::kHttp;
    } else if (scheme == "https") {
      e.scheme = Scheme::kHttps;
    } else {
      return bad("unsupported scheme '" + std::string(scheme) + "' (http or https)");
    }
    rest.remove_prefix(p + 3);
    if (const size_t slash = rest.find('/'); slash != std::string_view::npos)
      rest = rest.substr(0, slash);
  }
  if (rest.empty()) return bad("no host");
  std::string_view port_text;
  if (rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed '['");
    e.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (rest.empty() || rest.front() != ':') return bad("missing :port");
    port_text = rest.substr(1);
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("missing :port");
    e.host = std::string(rest.substr(0, colon));
    if (e.host.find(':') != std::string::npos) return bad("IPv6 addresses need [brackets]");
    port_text = rest.substr(colon + 1);
  }
  if (e.host.empty()) return bad("no host");
  int port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port <= 0 || port > 65535)
    return bad("port must be 1-65535");
  e.port = port;
  return e;
}

Result<std::vector<Endpoint>> ParseEndpoints(std::string_view list, const std::string& where) {
  std::vector<Endpoint> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.push_back(CPR_TRY(ParseEndpoint(item, where)));
    start = end + 1;
  }
  if (out.empty())
    return MakeError(Code::kInvalidArgument, where, "no endpoint given",
                     "e.g. --endpoints 127.0.0.1:2379");
  return out;
}

}  // namespace cpr::client
