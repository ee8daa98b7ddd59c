// kubeconfig files (what kubectl reads): rendered by `cpr kubeconfig
// recover` and `cpr csr request`, read by `cpr csr` and `cpr csr request`.
// One cluster, one user, one context; credentials inline (*-data, token) or,
// when reading, from the files a kubeconfig names.
#pragma once

#include <cstdint>
#include <string>

#include "util/result.h"

namespace cpr::recovery {

struct Kubeconfig {
  std::string name = "cpr-recovery";  // cluster and context name
  std::string server;                 // https://HOST:PORT
  std::string ca_pem;
  std::string user = "admin";
  std::string token;                            // bearer (bootstrap) token, or
  std::string client_cert_pem, client_key_pem;  // a client certificate
};

std::string RenderKubeconfig(const Kubeconfig& config);
// The current context's cluster and user (or the first ones).
Result<Kubeconfig> LoadKubeconfig(const std::string& path);

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
