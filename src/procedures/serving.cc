#include "procedures/serving.h"

#include <fmt/format.h>

#include <thread>

#include "client/client.h"

namespace cpr::procedures {

Result<double> WaitLinearizableRead(const std::string& endpoint, const client::TlsFiles& tls,
                                    std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  client::Config cfg;
  cfg.endpoints = CPR_TRY(client::ParseEndpoints(endpoint, "endpoint"));
  cfg.tls = tls;
  cfg.dial_timeout = std::chrono::milliseconds(500);
  cfg.command_timeout = std::chrono::seconds(2);
  Error last = MakeError(Code::kUnavailable, endpoint, "not tried");
  while (std::chrono::steady_clock::now() < deadline) {
    // A fresh client per try: a channel that saw the port refused backs off
    // its reconnects, which would only add to the wait.
    auto c = client::Client::Create(cfg);
    if (!c) return c.error();
    client::RangeRequest get;
    get.key = "cpr/health";
    auto r = (*c)->Range(get);
    if (r) return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    last = r.error();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return MakeError(Code::kUnavailable, endpoint,
                   fmt::format("no linearizable read within {} s; last: {}",
                               std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                               last.ToString()));
}

}  // namespace cpr::procedures
