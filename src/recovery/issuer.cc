#include "recovery/issuer.h"

#include <algorithm>

#include "pki/csr.h"
#include "pki/issue.h"
#include "pki/kube_pki.h"

namespace cpr::recovery {

Result<Issuer> Issuer::FromPkiDir(const std::string& dir) {
  const pki::KubePkiPaths p{dir};
  pki::CaPair cluster = CPR_TRY(pki::LoadCa(p.KubeCa()));
  pki::CaPair client = CPR_TRY(pki::LoadCa(p.KubeletClientCa()));
  pki::CaPair serving = CPR_TRY(pki::LoadCa(p.KubeletServingCa()));
  return Issuer(std::move(cluster), std::move(client), std::move(serving));
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
