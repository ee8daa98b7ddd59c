// --listen ADDR:PORT for CPR's HTTPS servers (the temporary signer and the
// recovery API): parsed, never a wildcard.
#pragma once

#include <string>

#include "util/result.h"

namespace cpr::https {

struct ListenAddress {
  std::string host;  // without brackets
  int port = 0;
  bool is_ip = false;
  std::string Url() const;  // https://host:port, IPv6 bracketed
};

// Parses ADDR:PORT; refuses wildcards (0.0.0.0, ::, empty host).
Result<ListenAddress> ParseListen(const std::string& text);

}  // namespace cpr::https
