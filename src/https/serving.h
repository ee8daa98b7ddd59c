// What a CPR server process does around https::Server (the signer, the
// recovery API): its serving certificate, issued in memory for the address
// it listens on, and its stop signals.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "https/address.h"
#include "pki/cert.h"
#include "pki/key.h"
#include "util/result.h"

namespace cpr::https {

// A serving certificate for `listen` (an IP or DNS SAN, plus `extra_dns`)
// issued by `ca`, valid from now - backdate until `not_after` (capped at
// the CA's).
Result<pki::Certificate> IssueServingCert(const HostPort& listen,
                                          const std::vector<std::string>& extra_dns,
                                          const pki::Name& subject, const pki::PrivateKey& key,
                                          const pki::Certificate& ca, const pki::PrivateKey& ca_key,
                                          int64_t now, int64_t not_after);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread; call before
// starting threads, so that only WaitForStopSignal receives them.
void BlockStopSignals();
// Waits for one of those signals (returns its number) or until
// `should_stop` says so (polled every 200 ms; returns 0).
int WaitForStopSignal(const std::function<bool()>& should_stop);

}  // namespace cpr::https
