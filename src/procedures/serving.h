// Waiting for etcd to serve: the check every procedure ends with, and the
// lab's "up". A linearizable read (it commits through raft, so it needs a
// leader and quorum) on one endpoint, retried until it answers.
#pragma once

#include <chrono>
#include <string>

#include "client/endpoint.h"
#include "util/result.h"

namespace cpr::procedures {

// Retries a linearizable read of one key on `endpoint` every 20 ms until it
// succeeds or `timeout` passes (the error then says what the last try got).
// Returns the seconds it took.
Result<double> WaitLinearizableRead(const std::string& endpoint, const client::TlsFiles& tls,
                                    std::chrono::milliseconds timeout);

}  // namespace cpr::procedures
