// What the temporary signer agrees to sign (issue 5; openshift-dr.md §2 lists
// what kube-etcd-signer-server did not check). A pure function of the token
// record, the request and the configuration, so every rule is unit-tested.
//
// The signer signs only when:
//   * the token is known, unexpired and unspent (spent by the first signature);
//   * the CSR's signature verifies with the key it carries;
//   * its subject is exactly O=<profile's organization>, CN=<prefix><host>
//     for the token's host and profile, nothing else;
//   * it has at most kMaxSans SANs, none twice; they are DNS names and IPs only, a subset of the
//   host's allow-list
//     (its name and IPs, localhost, 127.0.0.1, the --dns names) that includes
//     the host's name; no wildcard;
//   * it asks for no CA (basicConstraints CA:TRUE), no certSign/crlSign, and no
//     extended usage beyond the profile's (peer: server+client; server:
//     server+client; metrics: server);
//   * the lifetime it asks for (spec.expirationSeconds) is within the bound;
//   * its key is ECDSA P-256/P-384 or RSA >= 2048 with public exponent 65537.
// The certificate carries the profile's usages, never CA:TRUE, and a lifetime
// of at most the bound, whatever the request said.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pki/csr.h"
#include "pki/etcd_pki.h"
#include "pki/issue.h"
#include "signer/token_store.h"
#include "util/result.h"

namespace cpr::signer {

inline constexpr size_t kMaxSans = 64;

struct PolicyConfig {
  std::vector<std::string> extra_dns;  // --dns
  int64_t max_lifetime = 365 * 86400;  // issued certificates live at most this long
};

// What the k8s CSR object asked for, besides the PEM request.
struct RequestedExtras {
  std::vector<std::string> usages;            // spec.usages ("server auth", ...)
  std::optional<int64_t> expiration_seconds;  // spec.expirationSeconds
};

// nullopt when the token may be used now; otherwise why not.
std::optional<std::string> TokenProblem(const TokenRecord* record, int64_t now);

struct SignPlan {
  pki::Profile profile;
  pki::CertSpec spec;  // subject, SANs, usages, validity: what to issue
};

// The plan, or an Error (kFailedPrecondition: refused by policy;
// kInvalidArgument: malformed) whose `what` is the reason to log.
Result<SignPlan> Evaluate(const TokenRecord& token, const pki::CertRequest& csr,
                          const RequestedExtras& extras, const PolicyConfig& config, int64_t now);

// Canonical text of an IP address ("::1", "127.0.0.1"); "" if not an IP.
std::string CanonicalIp(const std::string& ip);

}  // namespace cpr::signer
