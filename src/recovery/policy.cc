#include "recovery/policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "etcd/backend.h"
#include "etcd/mvcc.h"
#include "k8s/node.h"
#include "pki/csr.h"
#include "pki/etcd_pki.h"
#include "pki/kube_pki.h"
#include "signer/policy.h"

namespace cpr::recovery {
namespace {

constexpr const char* kNodePrefix = "system:node:";

std::string PublicKeyOf(const std::string& pem) {
  auto req = pki::CertRequest::FromPem(pem, "spec.request");
  return req ? req->PublicKeyDer() : std::string();
}

std::optional<std::string> KeyProblem(const std::string& description) {
  if (description == "ECDSA P-256" || description == "ECDSA P-384") return std::nullopt;
  if (description.starts_with("RSA ")) {
    const int bits = std::atoi(description.c_str() + 4);
    if (bits >= 2048) return std::nullopt;
    return fmt::format("the key is {}; RSA keys must have at least 2048 bits", description);
  }
  return fmt::format("the key is {}; only RSA >= 2048 and ECDSA P-256/P-384 are accepted",
                     description);
}

}  // namespace

const Node* Inventory::Find(const std::string& name) const {
  for (const auto& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

namespace {

Node& NodeNamed(Inventory& inv, const std::string& name) {
  for (auto& x : inv.nodes)
    if (x.name == name) return x;
  inv.nodes.push_back({name, {}, {name}});
  return inv.nodes.back();
}

void AddUnique(std::vector<std::string>& list, const std::string& v) {
  if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
}

}  // namespace

Result<Inventory> ParseNodeFlags(const std::vector<std::string>& flags) {
  Inventory inv;
  for (const auto& f : flags) {
    const size_t eq = f.find('=');
    const std::string name = f.substr(0, eq);
    const std::string ip = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (!pki::ValidHostName(name) || !pki::ValidIpAddress(ip))
      return MakeError(Code::kInvalidArgument, "--node", fmt::format("'{}': expected NAME=IP", f));
    AddUnique(NodeNamed(inv, name).ips, signer::CanonicalIp(ip));
  }
  return inv;
}

Result<void> AddStoredNode(Bytes value, const std::string& where, Inventory& inv) {
  auto node = k8s::DecodeNode(value);
  if (!node || !pki::ValidHostName(node->name))
    return MakeError(Code::kCorrupt, where, "not a readable v1 Node",
                     "give the nodes with --node NAME=IP instead");
  Node& n = NodeNamed(inv, node->name);
  for (const auto& [type, address] : node->addresses) {
    if (type.ends_with("IP") && pki::ValidIpAddress(address))
      AddUnique(n.ips, signer::CanonicalIp(address));
    else if ((type == "Hostname" || type.ends_with("DNS")) && pki::ValidHostName(address))
      AddUnique(n.dns, address);
  }
  return {};
}

Result<int> AddNodesFromSnapshot(const std::string& snapshot, Inventory& inv) {
  auto backend = CPR_TRY(etcd::Backend::Open(snapshot));
  const int64_t rev = CPR_TRY(etcd::ResolveRevision(*backend, 0));
  int count = 0;
  for (const char* prefix : kNodeKeyPrefixes) {
    auto keys = CPR_TRY(etcd::LiveKeys(*backend, rev, prefix));
    for (size_t i = 0; i < keys.size(); i++) {
      auto rec = CPR_TRY(keys.record(i));
      CPR_RETURN_IF_ERROR(
          AddStoredNode(rec.kv.value, snapshot + " " + std::string(keys.key(i)), inv));
      count++;
    }
  }
  return count;
}

std::optional<std::string> NodePolicyRefusal(const Csr& csr, const Inventory& inventory,
                                             const std::vector<BootstrapToken>& tokens,
                                             const std::vector<Csr>& others, int64_t now,
                                             PolicyMode mode) {
  const bool identity = mode == PolicyMode::kFull;  // the override waives the identity rules
  const bool client = csr.signer_name == pki::kKubeletClientSigner;
  const bool serving = csr.signer_name == pki::kKubeletServingSigner;
  if (!client && !serving)
    return fmt::format("signer {} is not a kubelet signer; CPR approves only node certificates",
                       csr.signer_name);
  auto req = pki::CertRequest::FromPem(csr.request, "spec.request");
  if (!req) return "spec.request does not parse: " + req.error().what;
  const pki::CsrInfo info = req->Info();
  if (!info.signature_valid) return "the request's signature does not verify";
  // Subject: exactly O=system:nodes, CN=system:node:<N>, nothing else.
  if (info.subject.Organizations() != std::vector<std::string>{"system:nodes"})
    return fmt::format("the subject's O is [{}], not exactly [system:nodes]",
                       fmt::join(info.subject.Organizations(), ","));
  for (const auto& [attr, value] : info.subject.entries)
    if (attr != "O" && attr != "CN")
      return fmt::format("the subject has {}={}; only O and CN are expected", attr, value);
  const std::string cn = info.subject.CommonName();
  if (!cn.starts_with(kNodePrefix))
    return fmt::format("CN {} does not start with {}", cn, kNodePrefix);
  const std::string node_name = cn.substr(std::string(kNodePrefix).size());
  if (!pki::ValidHostName(node_name))
    return fmt::format("CN {}: '{}' is not a valid node name", cn, node_name);
  const Node* node = inventory.Find(node_name);
  if (!node && identity) return fmt::format("CN {} does not match a known node", cn);
  // Usages.
  std::set<std::string> usages(csr.usages.begin(), csr.usages.end());
  const std::string kind = client ? "client auth" : "server auth";
  const std::set<std::string> full{"digital signature", "key encipherment", kind};
  const std::set<std::string> no_ke{"digital signature", kind};
  if (usages.size() != csr.usages.size() || (usages != full && usages != no_ke))
    return fmt::format("usages [{}] are not exactly digital signature, key encipherment, {}",
                       fmt::join(csr.usages, ", "), kind);
  if (info.requests_ca) return "the request asks for a CA certificate";
  // Key.
  if (auto p = KeyProblem(info.key_description)) return p;
  // Reused: another CSR with this key was issued, or came first (a CSR that
  // copies the key of an earlier one never passes; the earlier one may).
  const std::string key = req->PublicKeyDer();
  for (const auto& o : others) {
    if (o.name == csr.name || PublicKeyOf(o.request) != key) continue;
    const bool earlier = o.creation_timestamp < csr.creation_timestamp ||
                         (o.creation_timestamp == csr.creation_timestamp && o.name < csr.name);
    if (!o.certificate.empty() || earlier)
      return fmt::format("the key is reused: CSR {} has the same public key", o.name);
  }
  const bool by_node = csr.username == cn;
  if (client) {
    if (!info.dns_names.empty() || !info.ip_addresses.empty() || !info.other_sans.empty())
      return "a node client certificate must have no SANs";
    // A renewal with the node's own certificate, or the override.
    if (by_node || !identity) return std::nullopt;
    if (!csr.username.starts_with(kBootstrapUserPrefix))
      return fmt::format("requestor {} is neither {} nor a bootstrap token CPR issued for {}",
                         csr.username, cn, node_name);
    const BootstrapToken* t =
        FindTokenById(tokens, csr.username.substr(std::string(kBootstrapUserPrefix).size()));
    if (!t) return fmt::format("requestor {} is no bootstrap token CPR issued", csr.username);
    if (t->node != node_name)
      return fmt::format("requestor {} holds the bootstrap token of node {}, not of {}",
                         csr.username, t->node, node_name);
    if (now >= t->expires)
      return fmt::format("the bootstrap token of requestor {} has expired", csr.username);
    return std::nullopt;
  }
  // Serving.
  if (identity && (!by_node || std::find(csr.groups.begin(), csr.groups.end(), "system:nodes") ==
                                   csr.groups.end()))
    return fmt::format("a serving CSR must be requested by {} itself (group system:nodes), not {}",
                       cn, csr.username);
  if (!info.other_sans.empty()) return "email or URI SANs are not allowed";
  if (info.dns_names.empty() && info.ip_addresses.empty())
    return "a serving CSR needs at least one DNS or IP SAN";
  if (!identity || node == nullptr) return std::nullopt;  // SANs of the node: an identity rule
  for (const auto& d : info.dns_names)
    if (std::find(node->dns.begin(), node->dns.end(), d) == node->dns.end())
      return fmt::format("DNS SAN {} is not a name of node {}", d, node_name);
  for (const auto& ip : info.ip_addresses)
    if (std::find(node->ips.begin(), node->ips.end(), signer::CanonicalIp(ip)) == node->ips.end())
      return fmt::format("IP SAN {} is not an address of node {}", ip, node_name);
  return std::nullopt;
}

}  // namespace cpr::recovery
