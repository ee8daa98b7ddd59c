#include <gtest/gtest.h>

#include "client/errors.h"

namespace cpr::client {
namespace {

struct Case {
  RpcFailure failure;
  bool tls;
  bool with_cert;
  Code code;
  const char* what;  // substring of Error::what
  const char* hint;  // substring of Error::hint ("" any)
};

Error Explain(const RpcFailure& f, bool tls, bool with_cert) {
  Config c;
  c.dial_timeout = std::chrono::seconds(2);
  c.command_timeout = std::chrono::milliseconds(1500);
  if (tls) c.tls.cacert = "/etc/ssl/etcd/ca.crt";
  if (with_cert) {
    c.tls.cert = "client.crt";
    c.tls.key = "client.key";
  }
  Endpoint e = *ParseEndpoint("127.0.0.1:2379", "x");
  return ExplainRpcFailure(f, e, c);
}

TEST(ExplainRpcFailure, SaysWhichEndpointAndWhy) {
  const Case cases[] = {
      {{RpcCode::kUnavailable,
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:2379: Failed to "
        "connect to remote host: Connection refused",
        "MemberList", true},
       false,
       false,
       Code::kUnavailable,
       "MemberList: connection refused",
       "--endpoints"},
      {{RpcCode::kUnavailable, "", "Status", true, true},
       false,
       false,
       Code::kUnavailable,
       "could not connect within 2s (--dial-timeout)",
       ""},
      {{RpcCode::kUnavailable, "connection attempt timed out before receiving SETTINGS frame",
        "Status", true},
       false,
       false,
       Code::kUnavailable,
       "within 2s (--dial-timeout)",
       ""},
      {{RpcCode::kDeadlineExceeded, "Deadline Exceeded", "Put"},
       false,
       false,
       Code::kUnavailable,
       "timed out after 1.5s (--command-timeout)",
       ""},
      {{RpcCode::kUnavailable,
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:2379: Ssl "
        "handshake failed: SSL_ERROR_SSL: error:1000007d:SSL "
        "routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED",
        "MemberList", true},
       true,
       true,
       Code::kUnavailable,
       "not signed by a CA in --cacert /etc/ssl/etcd/ca.crt",
       "--cacert"},
      {{RpcCode::kUnavailable, "Peer name 127.0.0.1 is not in peer certificate", "Range", true},
       true,
       true,
       Code::kUnavailable,
       "does not name '127.0.0.1'",
       "SANs"},
      {{RpcCode::kUnavailable,
        "Ssl handshake failed: SSL_ERROR_SSL: error:10000418:SSL "
        "routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA",
        "Range", true},
       true,
       true,
       Code::kUnavailable,
       "rejected the client certificate",
       "trusted-ca-file"},
      {{RpcCode::kUnavailable,
        "failed to connect to all addresses; last error: UNKNOWN: "
        "ipv4:127.0.0.1:2379: Endpoint read failed",
        "Range", true},
       true,
       false,
       Code::kUnavailable,
       "closed the TLS connection",
       "pass --cert and --key"},
      {{RpcCode::kUnavailable, "Socket closed", "Range", true},
       false,
       false,
       Code::kUnavailable,
       "closed the connection",
       "may require TLS"},
      {{RpcCode::kUnavailable, "recvmsg:Connection reset by peer", "Snapshot"},
       true,
       true,
       Code::kUnavailable,
       "Snapshot: the connection was lost",
       "stopped"},
      {{RpcCode::kUnavailable, "etcdserver: unhealthy cluster", "MemberAdd"},
       false,
       false,
       Code::kUnavailable,
       "unhealthy cluster",
       "5 s"},
      {{RpcCode::kUnavailable, "etcdserver: no leader", "Put"},
       false,
       false,
       Code::kUnavailable,
       "no leader",
       "quorum"},
      {{RpcCode::kInvalidArgument, "etcdserver: user name is empty", "Range"},
       false,
       false,
       Code::kFailedPrecondition,
       "authentication enabled",
       "--user"},
      {{RpcCode::kInvalidArgument, "etcdserver: authentication failed, invalid user ID or password",
        "Authenticate"},
       false,
       false,
       Code::kFailedPrecondition,
       "authentication failed",
       "--user NAME:PASSWORD"},
      {{RpcCode::kPermissionDenied, "etcdserver: permission denied", "Snapshot"},
       false,
       false,
       Code::kFailedPrecondition,
       "permission denied",
       "root"},
      {{RpcCode::kNotFound, "etcdserver: member not found", "MemberRemove"},
       false,
       false,
       Code::kNotFound,
       "member not found",
       "member list"},
      {{RpcCode::kOutOfRange, "etcdserver: mvcc: required revision has been compacted", "HashKV"},
       false,
       false,
       Code::kFailedPrecondition,
       "required revision has been compacted",
       ""},
  };
  for (const Case& c : cases) {
    Error e = Explain(c.failure, c.tls, c.with_cert);
    SCOPED_TRACE(c.failure.message);
    EXPECT_EQ(e.where, "endpoint 127.0.0.1:2379");
    EXPECT_EQ(e.code, c.code) << e.ToString();
    EXPECT_NE(e.what.find(c.what), std::string::npos) << e.ToString();
    EXPECT_NE(e.hint.find(c.hint), std::string::npos) << e.ToString();
    // never the raw gRPC wrapping
    EXPECT_EQ(e.what.find("failed to connect to all addresses"), std::string::npos) << e.ToString();
  }
}

TEST(ExplainRpcFailure, NamesTheCauseBeforeTheTimeout) {
  RpcFailure f{RpcCode::kDeadlineExceeded, "Deadline Exceeded", "Put"};
  // Without a cause, a timeout is a timeout.
  EXPECT_EQ(Explain(f, false, false).what, "Put: timed out after 1.5s (--command-timeout)");
  f.cause = RpcFailure::Cause::kNoLeader;
  const Error e = Explain(f, false, false);
  EXPECT_EQ(e.what,
            "Put: etcdserver: no leader; the call timed out after 1.5s (--command-timeout)");
  EXPECT_NE(e.hint.find("quorum lost"), std::string::npos) << e.hint;
  f.cause = RpcFailure::Cause::kLearner;
  EXPECT_EQ(Explain(f, false, false).what.rfind("Put: the member is a learner", 0), 0u);
  const RpcFailure refused{RpcCode::kUnavailable, "etcdserver: rpc not supported for learner",
                           "Range"};
  EXPECT_EQ(Explain(refused, false, false).what, "Range: the member is a learner");
}

TEST(SummarizeFailures, OneLineTheMembersOwnCauseFirst) {
  const std::vector<EndpointFailure> failures = {
      {"a:1", MakeError(Code::kUnavailable, "endpoint a:1", "Range: connection refused",
                        "is etcd running?")},
      {"b:2", MakeError(Code::kUnavailable, "endpoint b:2", "Range: etcdserver: no leader",
                        "lost quorum")},
      {"c:3", MakeError(Code::kUnavailable, "endpoint c:3", "Range: connection refused",
                        "is etcd running?")}};
  const Error e = SummarizeFailures("Range", failures);
  EXPECT_EQ(e.where, "--endpoints");
  EXPECT_EQ(
      e.what,
      "Range: no endpoint answered: b:2: etcdserver: no leader; a:1, c:3: connection refused");
  EXPECT_EQ(e.hint, "lost quorum");
}

TEST(IsTransportFailure, OnlyWhatAnotherEndpointMightFix) {
  EXPECT_TRUE(IsTransportFailure({RpcCode::kUnavailable, "x", "r"}));
  EXPECT_TRUE(IsTransportFailure({RpcCode::kDeadlineExceeded, "x", "r"}));
  EXPECT_TRUE(IsTransportFailure({RpcCode::kUnknown, "x", "r", true}));
  EXPECT_FALSE(IsTransportFailure({RpcCode::kPermissionDenied, "x", "r"}));
  EXPECT_FALSE(IsTransportFailure({RpcCode::kNotFound, "x", "r"}));
  EXPECT_FALSE(IsTransportFailure({RpcCode::kInvalidArgument, "x", "r"}));
}

}  // namespace
}  // namespace cpr::client
