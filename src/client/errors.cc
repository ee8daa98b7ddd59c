#include "client/errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "util/duration.h"
#include "util/text.h"

namespace cpr::client {
namespace {

bool Has(std::string_view text, std::string_view needle) {
  auto it = std::search(text.begin(), text.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
  return it != text.end();
}

// gRPC wraps connection errors as "failed to connect to all addresses; last
// error: UNKNOWN: ipv4:127.0.0.1:2379: Failed to connect to remote host:
// Connection refused"; keep the part after the address.
std::string Essence(const std::string& message) {
  std::string m = message;
  for (std::string_view prefix : {"failed to connect to all addresses; last error: "}) {
    if (m.rfind(prefix, 0) == 0) m = m.substr(prefix.size());
  }
  for (std::string_view code : {"UNKNOWN: ", "UNAVAILABLE: ", "INTERNAL: "}) {
    if (m.rfind(code, 0) == 0) m = m.substr(code.size());
  }
  for (std::string_view scheme : {"ipv4:", "ipv6:", "unix:"}) {
    if (m.rfind(scheme, 0) == 0) {
      // ipv4:1.2.3.4:2379: rest  /  ipv6:[::1]:2379: rest
      const size_t sep = m.find(": ");
      if (sep != std::string::npos) m = m.substr(sep + 2);
    }
  }
  return m;
}

std::string Seconds(std::chrono::nanoseconds d) { return FormatGoDuration(d); }

}  // namespace

bool IsTransportFailure(const RpcFailure& f) {
  if (f.connecting || f.dial_timed_out) return true;
  switch (f.code) {
    case RpcCode::kUnavailable:
    case RpcCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

Error ExplainRpcFailure(const RpcFailure& f, const Endpoint& endpoint, const Config& config) {
  const std::string where = "endpoint " + endpoint.text;
  const std::string& m = f.message;
  const std::string essence = Essence(m);
  const bool tls = config.UsesTls(endpoint);
  const std::string rpc = f.rpc.empty() ? "" : f.rpc + ": ";
  auto err = [&](Code code, std::string what, std::string hint = {}) {
    return MakeError(code, where, rpc + std::move(what), std::move(hint));
  };

  if (f.dial_timed_out ||
      (f.connecting && (Has(m, "before receiving SETTINGS") || Has(m, "handshaker shutdown") ||
                        Has(m, "Timeout occurred") || Has(m, "connect timed out"))))
    return err(
        Code::kUnavailable,
        fmt::format("could not connect within {} (--dial-timeout)", Seconds(config.dial_timeout)),
        "is etcd listening on that address? a wrong address or a firewall makes "
        "connections hang");
  if (Has(m, "connection refused"))
    return err(Code::kUnavailable, "connection refused",
               "is etcd running and listening on this address? check --endpoints");
  if (Has(m, "not in peer certificate") || Has(m, "Peer name"))
    return err(Code::kUnavailable,
               fmt::format("TLS: the server's certificate does not name '{}'", endpoint.host),
               "dial a host name or IP address that the certificate lists in its SANs");
  if (Has(m, "CERTIFICATE_VERIFY_FAILED") || Has(m, "certificate verify failed"))
    return err(
        Code::kUnavailable,
        config.tls.cacert.empty()
            ? "TLS: the server's certificate is not trusted by the system CAs"
            : fmt::format("TLS: the server's certificate is not signed by a CA in --cacert {} "
                          "(or it has expired)",
                          config.tls.cacert),
        "pass the CA bundle that signed etcd's serving certificate with --cacert");
  if (Has(m, "ALERT_UNKNOWN_CA") || Has(m, "ALERT_BAD_CERTIFICATE") ||
      Has(m, "CERTIFICATE_REQUIRED") || Has(m, "CERTIFICATE_EXPIRED") ||
      Has(m, "ALERT_CERTIFICATE_UNKNOWN") || Has(m, "ALERT_HANDSHAKE_FAILURE") ||
      Has(m, "CERTIFICATE_REVOKED") || Has(m, "ALERT_ACCESS_DENIED")) {
    return err(Code::kUnavailable,
               "TLS: the server rejected the client certificate (" + essence + ")",
               config.tls.cert.empty()
                   ? "the server requires a client certificate: pass --cert and --key"
                   : "--cert must be signed by a CA the server trusts (etcd's --trusted-ca-file) "
                     "and be valid now");
  }
  if (tls && (Has(m, "WRONG_VERSION_NUMBER") || Has(m, "packet length too long") ||
              Has(m, "record layer failure") || Has(m, "HTTP_REQUEST")))
    return err(Code::kUnavailable, "TLS: the endpoint does not speak TLS (" + essence + ")",
               "use http:// for a plaintext endpoint, or drop --cacert/--cert/--key");
  if (Has(m, "Handshake failed") || Has(m, "SSL_ERROR") || (Has(m, "ssl") && Has(m, "handshake")))
    return err(Code::kUnavailable, "TLS handshake failed (" + essence + ")",
               "check --cacert, --cert and --key against the server's certificates");
  if (!tls && f.connecting &&
      (Has(m, "Socket closed") || Has(m, "Connection reset") || Has(m, "end of stream") ||
       Has(m, "Broken pipe")))
    return err(Code::kUnavailable, "the server closed the connection (" + essence + ")",
               "the endpoint may require TLS: use https:// and --cacert (with --cert/--key)");
  const bool closed = Has(m, "Socket closed") || Has(m, "Connection reset") ||
                      Has(m, "Endpoint read failed") || Has(m, "Handshake read failed") ||
                      Has(m, "end of stream");
  if (!f.connecting && (closed || Has(m, "Broken pipe") || Has(m, "GOAWAY")))
    return err(Code::kUnavailable, "the connection was lost (" + essence + ")",
               "the member may have stopped, crashed or restarted; retry, or use another endpoint");
  if (tls && closed && !config.tls.cert.empty())
    return err(Code::kUnavailable, "the server closed the TLS connection (" + essence + ")",
               "it may have rejected the client certificate: --cert must be signed by a CA the "
               "server trusts (etcd's --trusted-ca-file); or the endpoint does not speak TLS");
  if (tls && closed)
    return err(Code::kUnavailable, "the server closed the TLS connection (" + essence + ")",
               "the server may require a client certificate: pass --cert and --key; or the "
               "endpoint does not speak TLS (use http://)");
  // The cause before the timeout: "timed out" alone sends the operator to
  // --command-timeout when the cluster has lost quorum.
  const std::string timed_out =
      f.code == RpcCode::kDeadlineExceeded
          ? fmt::format("; the call timed out after {} (--command-timeout)",
                        Seconds(config.command_timeout))
          : "";
  if (f.cause == RpcFailure::Cause::kNoLeader || Has(m, "no leader"))
    return err(Code::kUnavailable, "etcdserver: no leader" + timed_out,
               "quorum lost or an election running: `cpr endpoint status --cluster` shows which "
               "members answer");
  if (f.cause == RpcFailure::Cause::kLearner || Has(m, "not supported for learner"))
    return err(Code::kUnavailable, "the member is a learner" + timed_out,
               "a learner serves only serializable reads and status: use a voting member's "
               "endpoint, or promote it with `cpr member promote ID`");
  if (f.code == RpcCode::kDeadlineExceeded) {
    if (f.connecting)
      return err(Code::kUnavailable, fmt::format("could not connect within {} (--dial-timeout)",
                                                 Seconds(config.dial_timeout)));
    return err(
        Code::kUnavailable,
        fmt::format("timed out after {} (--command-timeout)", Seconds(config.command_timeout)),
        "the member may be overloaded or partitioned; raise --command-timeout for slow "
        "calls");
  }
  if (Has(m, "user name is empty"))
    return err(Code::kFailedPrecondition, "the cluster has authentication enabled (" + m + ")",
               "pass --user NAME[:PASSWORD] or a client certificate whose CN is a user");
  if (Has(m, "authentication failed") || Has(m, "invalid user ID or password"))
    return err(Code::kFailedPrecondition, "authentication failed (" + m + ")",
               "check --user NAME:PASSWORD");
  if (Has(m, "authentication is not enabled"))
    return err(Code::kFailedPrecondition, m, "drop --user: the cluster has no authentication");
  if (f.code == RpcCode::kPermissionDenied || Has(m, "permission denied"))
    return err(Code::kFailedPrecondition, m,
               "the user lacks a role for this request; maintenance calls need root");
  if (f.code == RpcCode::kUnauthenticated) return err(Code::kFailedPrecondition, m, "check --user");
  if (Has(m, "member ID not found") || Has(m, "member not found"))
    return err(Code::kNotFound, m, "`cpr member list` shows the IDs (hex)");
  if (Has(m, "unhealthy cluster"))
    return err(Code::kUnavailable, m,
               "etcd changes membership only when every voting member has been connected for "
               "5 s: check `cpr endpoint health --cluster`, then retry");
  if (Has(m, "not enough started members"))
    return err(Code::kFailedPrecondition, m,
               "adding a voting member now could lose quorum: add it with --learner, or start "
               "the stopped members first");
  if (f.code == RpcCode::kUnavailable)
    return err(Code::kUnavailable, essence.empty() ? "unavailable" : essence);
  if (f.code == RpcCode::kCancelled) return err(Code::kUnavailable, "cancelled");
  // etcd's own refusals (compacted revision, peer URL exists, too many
  // learners ...): say them as etcd does.
  return err(Code::kFailedPrecondition, essence.empty() ? "failed" : essence);
}

namespace {

// What a member said of itself outranks what the network did.
int Rank(const Error& e) { return Has(e.what, "no leader") || Has(e.what, "learner") ? 0 : 1; }

}  // namespace

Error SummarizeFailures(const std::string& rpc, const std::vector<EndpointFailure>& failures) {
  struct Group {
    std::string what, hint;
    std::vector<std::string> endpoints;
    int rank;
  };
  std::vector<Group> groups;
  const std::string prefix = rpc + ": ";
  for (const EndpointFailure& f : failures) {
    std::string what = f.error.what;
    if (what.rfind(prefix, 0) == 0) what = what.substr(prefix.size());
    auto g =
        std::find_if(groups.begin(), groups.end(), [&](const Group& x) { return x.what == what; });
    if (g == groups.end()) {
      groups.push_back({what, f.error.hint, {}, Rank(f.error)});
      g = groups.end() - 1;
    }
    g->endpoints.push_back(f.endpoint);
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const Group& a, const Group& b) { return a.rank < b.rank; });
  std::vector<std::string> parts;
  for (const Group& g : groups)
    parts.push_back(fmt::format("{}: {}", JoinList(g.endpoints, ", "), g.what));
  return MakeError(Code::kUnavailable, "--endpoints",
                   fmt::format("{}: no endpoint answered: {}", rpc, JoinList(parts, "; ")),
                   groups.empty() || groups.front().hint.empty()
                       ? "check that etcd runs on these addresses and that a quorum is up"
                       : groups.front().hint);
}

}  // namespace cpr::client
