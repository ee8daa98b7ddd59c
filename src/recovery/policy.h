// The node approval policy (issue 11 item 3; k8s-csr-api.md §7.2): which
// CSRs CPR approves, by hand through the API (`kubectl certificate approve`,
// answered 403 with the reason otherwise) or with `cpr csr approve --policy
// nodes`. A pure function of the CSR, the inventory, the issued bootstrap
// tokens and the other CSRs, so every rule is unit-tested.
//
// Client (kubernetes.io/kube-apiserver-client-kubelet): O exactly
// [system:nodes]; CN system:node:<N> for N in the inventory; no SANs of any
// kind; usages exactly {digital signature, key encipherment, client auth}
// (or without key encipherment); key RSA >= 2048 or ECDSA P-256/P-384, not
// the key of another CSR that was issued or created earlier; requestor the bootstrap token CPR
// issued for N (unexpired) or N itself (system:node:<N>, a renewal). Serving
// (kubernetes.io/kubelet-serving): the same subject, key and reuse rules; requestor N itself in
// group system:nodes; at least one DNS/IP SAN, each a name or address of N; usages {digital
// signature, key encipherment, server auth} (or without key encipherment). Any other signer is
// never approved.
//
// The operator override (PolicyMode::kOperatorOverride: an approval by
// system:masters with reason CPRPolicyOverride and a justification) waives
// only the identity rules: N in the inventory, the requestor (bootstrap token,
// N itself, group system:nodes) and serving SANs being names or addresses of
// N. Every other rule still holds: a kubelet signer, the exact subject with a
// valid node name, the usages, no CA, the key type, size and reuse, the
// signature, no SANs on a client CSR, at least one DNS/IP SAN and no email or
// URI SAN on a serving CSR.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "recovery/auth.h"
#include "recovery/csr.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cpr::recovery {

struct Node {
  std::string name;
  std::vector<std::string> ips, dns;  // every known address and host name
};

struct Inventory {
  std::vector<Node> nodes;
  const Node* Find(const std::string& name) const;
};

// --node NAME=IP (repeatable; a name given twice gets both addresses).
Result<Inventory> ParseNodeFlags(const std::vector<std::string>& flags);

// Adds the cluster's Node objects from an etcd snapshot (a backup):
// `/registry/minions/` and OpenShift's `/kubernetes.io/minions/`, names and
// status addresses (IPs; host names from Hostname/InternalDNS/ExternalDNS).
// Returns how many Node objects were read.
Result<int> AddNodesFromSnapshot(const std::string& snapshot, Inventory& inventory);

// The key prefixes of Node objects: upstream's, then OpenShift's.
inline constexpr const char* kNodeKeyPrefixes[] = {"/registry/minions/", "/kubernetes.io/minions/"};

// One stored Node value (read from a live etcd by the caller; `where` names
// it in errors) into the inventory.
Result<void> AddStoredNode(Bytes value, const std::string& where, Inventory& inventory);

// The Approved condition's reason that asks for PolicyMode::kOperatorOverride.
inline constexpr const char* kOverrideReason = "CPRPolicyOverride";

enum class PolicyMode {
  kFull,              // every rule
  kOperatorOverride,  // the identity rules waived (above)
};

// nullopt when the node policy approves `csr`; otherwise the reason.
// `others`: every other stored CSR (for key reuse).
std::optional<std::string> NodePolicyRefusal(const Csr& csr, const Inventory& inventory,
                                             const std::vector<BootstrapToken>& tokens,
                                             const std::vector<Csr>& others, int64_t now,
                                             PolicyMode mode = PolicyMode::kFull);

}  // namespace cpr::recovery
