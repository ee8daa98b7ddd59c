#include "signer/policy.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "pki/lifetime.h"
#include "util/text.h"

namespace cpr::signer {
namespace {

Error Refuse(const std::string& why) { return MakeError(Code::kFailedPrecondition, "policy", why); }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The profile a request is signed under: the token's own, or for a member
// token the one its subject's O names (peer, server or metrics), each once.
Result<pki::Profile> ProfileOfRequest(const TokenRecord& token, const pki::CsrInfo& info) {
  if (token.profile != kMemberProfile) return pki::ParseProfile(token.profile, "token profile");
  const std::vector<std::string> orgs = info.subject.Organizations();
  for (auto p : {pki::Profile::kPeer, pki::Profile::kServer, pki::Profile::kMetrics}) {
    const pki::ProfileInfo& info_p = pki::GetProfile(p);
    if (orgs.size() != 1 || orgs[0] != info_p.organization) continue;
    const auto& used = token.used_profiles;
    if (std::find(used.begin(), used.end(), info_p.name) != used.end())
      return Refuse(fmt::format("token {} already obtained its {} certificate (one of each)",
                                token.id, info_p.name));
    return p;
  }
  return Refuse(
      fmt::format("O '{}' names none of the member profiles (system:etcd-peers, "
                  "system:etcd-servers, system:etcd-metrics)",
                  JoinList(orgs, ",")));
}

}  // namespace

std::string CanonicalIp(const std::string& ip) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN] = {0};
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return inet_ntop(AF_INET, buf, out, sizeof out);
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return inet_ntop(AF_INET6, buf, out, sizeof out);
  return {};
}

std::optional<std::string> TokenProblem(const TokenRecord* r, int64_t now) {
  if (!r) return "unknown token";
  if (r->state == "spent") return fmt::format("token {} already spent (replay)", r->id);
  if (r->state == "revoked") return fmt::format("token {} revoked", r->id);
  if (r->state != "unspent") return fmt::format("token {} in state '{}'", r->id, r->state);
  if (now >= r->expires) return fmt::format("token {} expired", r->id);
  return std::nullopt;
}

Result<SignPlan> Evaluate(const TokenRecord& token, const pki::CertRequest& csr,
                          const RequestedExtras& extras, const PolicyConfig& config, int64_t now) {
  SignPlan plan;
  const pki::CsrInfo info = csr.Info();
  plan.profile = CPR_TRY(ProfileOfRequest(token, info));
  const pki::ProfileInfo& profile = pki::GetProfile(plan.profile);

  if (!info.signature_valid) return Refuse("the CSR's signature does not verify");

  // Key: nothing weak.
  const std::string key = info.key_description;
  const bool key_ok = key == "ECDSA P-256" || key == "ECDSA P-384" ||
                      (key.starts_with("RSA ") && std::atoi(key.c_str() + 4) >= 2048);
  if (!key_ok)
    return Refuse("key type " + key + " not accepted (ECDSA P-256/P-384 or RSA >= 2048)");
  // RSA: the standard exponent only (e=3 invites the low-exponent attacks).
  if (const std::string e = pki::RsaPublicExponent(csr.public_key()); !e.empty() && e != "65537")
    return Refuse("RSA public exponent " + e.substr(0, 40) + " not accepted (65537 only)");

  // Subject: exactly O and CN of the token's host and profile.
  const std::string want_cn = pki::ProfileCommonName(plan.profile, token.host);
  for (const auto& [attr, value] : info.subject.entries)
    if (attr != "CN" && attr != "O")
      return Refuse(
          fmt::format("subject attribute {}={} not allowed (only O and CN)", attr, value));
  const std::vector<std::string> orgs = info.subject.Organizations();
  int n_cn = 0;
  for (const auto& [attr, value] : info.subject.entries) n_cn += attr == "CN";
  if (n_cn != 1 || info.subject.CommonName() != want_cn)
    return Refuse(fmt::format("CN '{}' is not '{}' (the token is for host {}, profile {})",
                              info.subject.CommonName(), want_cn, token.host, token.profile));
  if (orgs.size() != 1 || orgs[0] != profile.organization)
    return Refuse(fmt::format("O '{}' is not '{}'", JoinList(orgs, ","), profile.organization));

  // Extensions asked for.
  if (info.requests_ca) return Refuse("CA:TRUE requested");
  if (info.key_usage & (pki::kCertSign | pki::kCrlSign))
    return Refuse("keyCertSign/cRLSign key usage requested");
  for (const auto& u : info.ext_key_usages)
    if (std::find(profile.ext_key_usages.begin(), profile.ext_key_usages.end(), u) ==
        profile.ext_key_usages.end())
      return Refuse(
          fmt::format("extended key usage {} not allowed for profile {}", u, profile.name));
  // spec.usages of the CSR object, in Kubernetes' words.
  std::set<std::string> allowed{"digital signature", "key encipherment", "signing"};
  for (const auto& u : profile.ext_key_usages)
    allowed.insert(u == std::string(pki::kServerAuth) ? "server auth" : "client auth");
  for (const auto& u : extras.usages)
    if (!allowed.count(Lower(u)))
      return Refuse(fmt::format("usage '{}' not allowed for profile {}", u, profile.name));

  // SANs: a few, each once, a subset of the allow-list that names the host.
  const size_t n_sans = info.dns_names.size() + info.ip_addresses.size() + info.other_sans.size();
  if (n_sans > kMaxSans)
    return Refuse(fmt::format("{} SANs requested; at most {}", n_sans, kMaxSans));
  std::set<std::string> seen;
  for (const auto& d : info.dns_names)
    if (!seen.insert("DNS:" + Lower(d)).second) return Refuse("duplicate SAN DNS:" + d);
  for (const auto& ip : info.ip_addresses)
    if (!seen.insert("IP:" + CanonicalIp(ip)).second) return Refuse("duplicate SAN IP:" + ip);
  if (!info.other_sans.empty())
    return Refuse("SAN " + info.other_sans.front() + " not allowed (DNS names and IPs only)");
  std::set<std::string> dns_ok{Lower(token.host), "localhost"};
  for (const auto& d : config.extra_dns) dns_ok.insert(Lower(d));
  std::set<std::string> ip_ok{"127.0.0.1"};
  for (const auto& ip : token.ips) ip_ok.insert(CanonicalIp(ip));
  bool names_host = false;
  for (const auto& d : info.dns_names) {
    if (d.find('*') != std::string::npos) return Refuse("wildcard SAN " + d + " not allowed");
    if (!dns_ok.count(Lower(d)))
      return Refuse(fmt::format("SAN {} not in the allow-list of host {}", d, token.host));
    names_host |= Lower(d) == Lower(token.host);
  }
  for (const auto& ip : info.ip_addresses)
    if (!ip_ok.count(CanonicalIp(ip)))
      return Refuse(fmt::format("SAN IP {} not in the allow-list of host {}", ip, token.host));
  if (!names_host) return Refuse("the SANs do not include the host name " + token.host);

  // Lifetime.
  int64_t lifetime = config.max_lifetime;
  if (extras.expiration_seconds) {
    const int64_t asked = *extras.expiration_seconds;
    if (asked < 600) return Refuse(fmt::format("expirationSeconds {} below 600", asked));
    if (asked > config.max_lifetime)
      return Refuse(fmt::format("lifetime {} asked, longer than the bound {}",
                                pki::FormatLifetime(asked),
                                pki::FormatLifetime(config.max_lifetime)));
    lifetime = asked;
  }

  plan.spec.subject = pki::Name::Of(want_cn, {profile.organization});
  plan.spec.dns_names = info.dns_names;
  plan.spec.ip_addresses.clear();
  for (const auto& ip : info.ip_addresses) plan.spec.ip_addresses.push_back(CanonicalIp(ip));
  plan.spec.is_ca = false;
  plan.spec.ext_key_usages = profile.ext_key_usages;
  plan.spec.not_before = now - pki::kBackdateSeconds;
  plan.spec.not_after = now + lifetime;
  return plan;
}

}  // namespace cpr::signer
