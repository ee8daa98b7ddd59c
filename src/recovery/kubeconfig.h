// The recovery API's credentials as kubeconfigs (k8s/kubeconfig.h renders
// and reads them): `cpr kubeconfig recover`, with or without --bootstrap.
#pragma once

#include <cstdint>
#include <string>

#include "k8s/kubeconfig.h"
#include "util/result.h"

namespace cpr::recovery {

using k8s::Kubeconfig;
using k8s::LoadKubeconfig;
using k8s::RenderKubeconfig;

// `cpr kubeconfig recover` (recover-kubeconfig.sh): a kubeconfig for the
// recovery endpoint `server` with the cluster CA of `pki_dir`
// (pki/kube_pki.h) and a fresh admin client certificate (CN cpr-recovery-admin,
// O system:masters, signed by the cluster CA, valid `validity` seconds).
Result<Kubeconfig> AdminKubeconfig(const std::string& pki_dir, const std::string& server,
                                   int64_t validity, int64_t now);
// The node's bootstrap kubeconfig: a bootstrap token for `node` (auth.h)
// that expires after `ttl` seconds.
Result<Kubeconfig> BootstrapKubeconfig(const std::string& pki_dir, const std::string& server,
                                       const std::string& node, int64_t ttl, int64_t now);

}  // namespace cpr::recovery
