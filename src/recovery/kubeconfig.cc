#include "recovery/kubeconfig.h"

#include <algorithm>

#include "pki/issue.h"
#include "pki/kube_pki.h"
#include "recovery/auth.h"

namespace cpr::recovery {

namespace {

Result<void> CheckServer(const std::string& server) {
  if (!server.starts_with("https://") || server.size() <= 8)
    return MakeError(Code::kInvalidArgument, "--server", "'" + server + "' is not an https:// URL",
                     "the recovery API's own address, e.g. https://10.0.0.5:9443");
  return {};
}

}  // namespace

Result<Kubeconfig> AdminKubeconfig(const std::string& pki_dir, const std::string& server,
                                   int64_t validity, int64_t now) {
  CPR_RETURN_IF_ERROR(CheckServer(server));
  const pki::CaPair ca = CPR_TRY(pki::LoadCa(pki::KubePkiPaths{pki_dir}.KubeCa()));
  pki::PrivateKey key = CPR_TRY(pki::PrivateKey::Generate({}));
  pki::CertSpec spec;
  spec.subject = pki::Name::Of("cpr-recovery-admin", {"system:masters"});
  spec.ext_key_usages = {pki::kClientAuth};
  spec.not_before = now - pki::kBackdateSeconds;
  spec.not_after = std::min(now + validity, ca.cert.Info().not_after);
  pki::Certificate cert = CPR_TRY(pki::IssueSigned(spec, key.get(), ca.cert, ca.key));
  Kubeconfig k;
  k.server = server;
  k.ca_pem = ca.cert.ToPem();
  k.user = "cpr-recovery-admin";
  k.client_cert_pem = cert.ToPem();
  k.client_key_pem = key.ToPem();
  return k;
}

Result<Kubeconfig> BootstrapKubeconfig(const std::string& pki_dir, const std::string& server,
                                       const std::string& node, int64_t ttl, int64_t now) {
  CPR_RETURN_IF_ERROR(CheckServer(server));
  const pki::KubePkiPaths paths{pki_dir};
  const pki::CaPair ca = CPR_TRY(pki::LoadCa(paths.KubeCa()));
  Kubeconfig k;
  k.server = server;
  k.ca_pem = ca.cert.ToPem();
  k.user = "kubelet-bootstrap";
  k.token = CPR_TRY(IssueBootstrapToken(paths.BootstrapTokens(), node, ttl, now));
  return k;
}

}  // namespace cpr::recovery
