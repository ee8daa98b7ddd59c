#include "recovery/issuer.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/kube_pki.h"
#include "pki/lifetime.h"
#include "signer/ca_source.h"

namespace cpr::recovery {

namespace {

// OpenShift 4.3's kubelet CSR signer, and the copy the controller manager reads.
constexpr std::pair<const char*, const char*> kCsrSignerSecrets[] = {
    {"openshift-kube-controller-manager-operator", "csr-signer"},
    {"openshift-kube-controller-manager", "csr-signer"}};

Result<void> CheckUnexpired(const pki::CaPair& ca, const std::string& where, int64_t now) {
  const int64_t end = ca.cert.Info().not_after;
  if (end <= now)
    return MakeError(Code::kFailedPrecondition, where,
                     fmt::format("the CA expired on {}", pki::FormatTimeUtc(end)),
                     "certificates it signed would not verify; give the cluster's current "
                     "kubelet CA");
  return {};
}

// One CA for both kubelet signers, from --ca/--ca-key or a backup's Secret.
Result<std::optional<std::pair<pki::CaPair, std::string>>> ExistingKubeletCa(
    const KubeletCaOptions& o) {
  using Found = std::optional<std::pair<pki::CaPair, std::string>>;
  if (o.cert.empty() != o.key.empty())
    return MakeError(Code::kInvalidArgument, o.cert.empty() ? "--ca-key" : "--ca",
                     o.cert.empty() ? "given without --ca" : "given without --ca-key",
                     "give the CA certificate and its key together");
  if (!o.cert.empty() && !o.snapshot.empty())
    return MakeError(Code::kInvalidArgument, "--ca/--ca-from-snapshot",
                     "give one source for the kubelet CA, not both");
  if (!o.encryption_config.empty() && o.snapshot.empty())
    return MakeError(Code::kInvalidArgument, "--encryption-config", "only with --ca-from-snapshot");
  if (!o.cert.empty()) {
    auto pair = CPR_TRY(pki::LoadExistingCa(o.cert, o.key));
    if (!pair) return MakeError(Code::kNotFound, o.cert, "no such file");
    return Found({std::move(*pair), "--ca " + o.cert});
  }
  if (o.snapshot.empty()) return Found();
  for (const auto& [ns, name] : kCsrSignerSecrets) {
    auto pair = CPR_TRY(signer::LoadCaPairFromSnapshot(o.snapshot, o.encryption_config, ns, name));
    if (pair)
      return Found({std::move(*pair), fmt::format("snapshot {} ({}/{})", o.snapshot, ns, name)});
  }
  return MakeError(Code::kNotFound, o.snapshot,
                   fmt::format("no kubelet CA Secret {}/{} nor {}/{} (under /kubernetes.io or "
                               "/registry)",
                               kCsrSignerSecrets[0].first, kCsrSignerSecrets[0].second,
                               kCsrSignerSecrets[1].first, kCsrSignerSecrets[1].second),
                   "give the cluster's kubelet CA with --ca CRT --ca-key KEY, or leave both out "
                   "to sign with the --pki directory's kubelet CAs");
}

}  // namespace

Result<Issuer> Issuer::Load(const std::string& dir, const KubeletCaOptions& kubelet_ca,
                            int64_t now) {
  const pki::KubePkiPaths p{dir};
  pki::CaPair cluster = CPR_TRY(pki::LoadCa(p.KubeCa()));
  auto existing = CPR_TRY(ExistingKubeletCa(kubelet_ca));
  if (existing) {
    auto& [ca, source] = *existing;
    CPR_RETURN_IF_ERROR(CheckUnexpired(ca, source, now));
    return Issuer(std::move(cluster), ca, ca, source);
  }
  pki::CaPair client = CPR_TRY(pki::LoadCa(p.KubeletClientCa()));
  pki::CaPair serving = CPR_TRY(pki::LoadCa(p.KubeletServingCa()));
  CPR_RETURN_IF_ERROR(CheckUnexpired(client, p.KubeletClientCa() + ".crt", now));
  CPR_RETURN_IF_ERROR(CheckUnexpired(serving, p.KubeletServingCa() + ".crt", now));
  return Issuer(std::move(cluster), std::move(client), std::move(serving),
                "pki dir " + dir + " (kubelet-client-ca, kubelet-serving-ca)");
}

Result<std::string> Issuer::Sign(const Csr& csr, int64_t now) const {
  const bool client = csr.signer_name == pki::kKubeletClientSigner;
  const bool serving = csr.signer_name == pki::kKubeletServingSigner;
  if (!client && !serving)
    return MakeError(Code::kInvalidArgument, csr.name, "CPR signs only for the kubelet signers");
  pki::CertRequest req = CPR_TRY(pki::CertRequest::FromPem(csr.request, csr.name));
  const pki::CsrInfo info = req.Info();
  if (!info.signature_valid)
    return MakeError(Code::kInvalidArgument, csr.name, "the request's signature does not verify");
  const pki::CaPair& ca = client ? client_ : serving_;
  pki::CertSpec spec;
  spec.subject = info.subject;
  if (serving) {
    spec.dns_names = info.dns_names;
    spec.ip_addresses = info.ip_addresses;
  }
  spec.ext_key_usages = {client ? pki::kClientAuth : pki::kServerAuth};
  const int64_t lifetime =
      std::clamp<int64_t>(csr.expiration_seconds.value_or(365 * 86400), 600, 365 * 86400);
  spec.not_before = now - pki::kBackdateSeconds;
  spec.not_after = std::min(now + lifetime, ca.cert.Info().not_after);
  pki::Certificate cert = CPR_TRY(pki::IssueSigned(spec, req.public_key(), ca.cert, ca.key));
  return cert.ToPem();
}

}  // namespace cpr::recovery
