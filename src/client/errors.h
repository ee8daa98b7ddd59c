// How a failed etcd call is explained: a gRPC status (code + message) on an
// endpoint becomes a cpr::Error that says which endpoint failed and why in
// the operator's terms (refused, TLS and which side, auth, timeout and
// which flag, no leader), with a hint. Pure string work, unit-tested apart
// from gRPC (tests/unit/client_errors_test.cc).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "client/endpoint.h"
#include "util/result.h"

namespace cpr::client {

// gRPC status codes (grpc::StatusCode), without including gRPC.
enum class RpcCode {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

struct RpcFailure {
  RpcCode code = RpcCode::kUnknown;
  std::string message;      // grpc::Status::error_message()
  std::string rpc;          // "MemberList", for the message
  bool connecting = false;  // the channel never became ready
  bool dial_timed_out = false;
  // What the member said of itself when asked after the call failed (its
  // Status): why a call that merely timed out could not be served.
  enum class Cause { kUnknown, kNoLeader, kLearner };
  Cause cause = Cause::kUnknown;
};

// True when the failure is about reaching the endpoint (transport, TLS,
// timeout, no leader), so another endpoint may answer.
bool IsTransportFailure(const RpcFailure& f);

Error ExplainRpcFailure(const RpcFailure& f, const Endpoint& endpoint, const Config& config);

// One line for a call every endpoint failed: the rpc, then the endpoints
// grouped by what went wrong, a cause a member reported (no leader, a
// learner) first, and one hint: that of the first group.
struct EndpointFailure {
  std::string endpoint;
  Error error;  // as ExplainRpcFailure made it
};
Error SummarizeFailures(const std::string& rpc, const std::vector<EndpointFailure>& failures);

}  // namespace cpr::client
