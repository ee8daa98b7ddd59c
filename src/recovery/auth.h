// Who is calling the recovery API (k8s-csr-api.md §1, §8):
//   * a client certificate that verified against the cluster or kubelet
//     client CA (https/server.h checks the chain): user = CN, groups = every O, plus
//     system:authenticated;
//   * `Authorization: Bearer <id>.<secret>`, a bootstrap token
//     ([a-z0-9]{6}.[a-z0-9]{16}) that `cpr kubeconfig recover --bootstrap`
//     issued: user system:bootstrap:<id>, groups system:bootstrappers and
//     system:authenticated; refused once expired.
// Bootstrap tokens are kept in <pki>/bootstrap-tokens.json (0600): id,
// SHA-256 of the secret, the node it was issued for, created, expires. The
// secret itself is printed once and never stored or logged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pki/cert.h"
#include "util/result.h"

namespace cpr::recovery {

struct Identity {
  std::string user, uid;
  std::vector<std::string> groups;
  bool InGroup(const std::string& g) const;
};

struct BootstrapToken {
  std::string id, secret_sha256, node;
  int64_t created = 0, expires = 0;
};

inline constexpr const char* kBootstrapUserPrefix = "system:bootstrap:";

// Issues a token for `node`, valid `ttl` seconds; returns "<id>.<secret>".
Result<std::string> IssueBootstrapToken(const std::string& tokens_file, const std::string& node,
                                        int64_t ttl, int64_t now);
// Every token in the file; none when it does not exist.
Result<std::vector<BootstrapToken>> LoadBootstrapTokens(const std::string& tokens_file);
// The token with this id, or null.
const BootstrapToken* FindTokenById(const std::vector<BootstrapToken>& tokens,
                                    const std::string& id);

struct AuthOutcome {
  bool authenticated = false;
  Identity identity;
  std::string failure;  // why not (for the log; never holds the token)
};

// `client_chain`: the verified client certificate chain, leaf first (may be empty).
AuthOutcome Authenticate(const std::vector<pki::Certificate>& client_chain,
                         const std::string& authorization,
                         const std::vector<BootstrapToken>& tokens, int64_t now);

}  // namespace cpr::recovery
