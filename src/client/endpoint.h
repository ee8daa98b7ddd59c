// Endpoints in etcdctl's syntax and the client's configuration.
//
// An endpoint is `host:port`, `[v6]:port`, or a URL `http://host:port`,
// `https://host:port` (a trailing path is ignored, as gRPC does). TLS is
// used for https://, and for a bare host:port when any of --cacert, --cert,
// --key is given (etcdctl 3.4's rule); http:// is always plaintext.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace cpr::client {

enum class Scheme { kNone, kHttp, kHttps };

struct Endpoint {
  std::string text;  // as given; what messages and etcdctl's output show
  Scheme scheme = Scheme::kNone;
  std::string host;  // without brackets for IPv6
  int port = 0;
  // "host:port" (IPv6 bracketed): the gRPC target and the TLS name checked.
  std::string Target() const;
};

// `where` names the flag or source ("--endpoints", "member list").
Result<Endpoint> ParseEndpoint(std::string_view text, const std::string& where);
// Comma-separated list; empty items are skipped; at least one required.
Result<std::vector<Endpoint>> ParseEndpoints(std::string_view list, const std::string& where);

struct TlsFiles {
  std::string cacert;  // PEM bundle of trusted CAs; empty: the system's
  std::string cert;    // client certificate (PEM), with key
  std::string key;
  bool any() const { return !cacert.empty() || !cert.empty() || !key.empty(); }
};

struct Config {
  std::vector<Endpoint> endpoints;  // tried in order for cluster-wide calls
  TlsFiles tls;
  std::chrono::nanoseconds dial_timeout = std::chrono::seconds(2);
  std::chrono::nanoseconds command_timeout = std::chrono::seconds(5);
  std::string user;  // empty: no authentication
  std::string password;
  // etcdctl's --insecure-transport (default true); false: TLS with the
  // system's CAs for a bare host:port even without certificate files.
  bool insecure_transport = true;

  bool UsesTls(const Endpoint& e) const {
    return e.scheme == Scheme::kHttps ||
           (e.scheme == Scheme::kNone && (tls.any() || !insecure_transport));
  }
};

}  // namespace cpr::client
