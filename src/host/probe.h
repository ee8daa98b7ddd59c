// Probes: does anything answer at a URL's host:port? Fencing (seed §3.2:
// an old member still running gives "request cluster ID mismatch") asks
// this of every other member's peer and client URLs before a restore.
#pragma once

#include <string>
#include <vector>

namespace cpr::host {

// "https://127.0.0.12:2380" -> host "127.0.0.12", port 2380; false if malformed.
bool SplitUrl(const std::string& url, std::string* host, int* port);

// True when a TCP connection to the URL's host:port is accepted within
// `timeout_ms` (a refused or silent port is false). Numeric hosts only.
bool TcpAnswers(const std::string& url, int timeout_ms = 300);

struct Probe {
  std::string who;  // member name
  std::string url;
  bool answers = false;
};
// Every URL probed at once (one thread each), so a silent address costs one
// timeout, not one per URL.
std::vector<Probe> ProbeAll(std::vector<Probe> probes, int timeout_ms = 300);

}  // namespace cpr::host
