#include "pki/kube_pki.h"

namespace cpr::pki {

Result<CaPair> LoadCa(const std::string& stem) {
  auto pair = CPR_TRY(LoadExistingCa(stem + ".crt", stem + ".key"));
  if (!pair)
    return MakeError(Code::kNotFound, stem + ".crt", "no such CA",
                     "run `cpr pki init` for this directory (it adds missing CAs)");
  return *pair;
}

Result<std::vector<InitFile>> InitKubeCas(const std::string& dir, const KeySpec& key_spec,
                                          int64_t validity, int64_t now) {
  const KubePkiPaths p{dir};
  std::vector<InitFile> out;
  const std::pair<std::string, const char*> cas[] = {
      {p.KubeCa(), "kube-apiserver-recovery-signer"},
      {p.KubeletClientCa(), "kubelet-client-signer"},
      {p.KubeletServingCa(), "kubelet-serving-signer"}};
  for (const auto& [stem, cn] : cas) {
    const std::string what = std::string("Kubernetes CA ") + cn;
    auto existing = CPR_TRY(LoadExistingCa(stem + ".crt", stem + ".key"));
    CPR_TRY(MakeOrReuseCa(stem + ".crt", stem + ".key", cn, what, key_spec, validity, now, existing,
                          out));
  }
  return out;
}

}  // namespace cpr::pki
