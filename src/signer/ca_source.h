// Where the temporary signer's CAs come from:
//   * a `cpr pki init` directory: D/ca.{crt,key} and, when present,
//     D/metric-ca.{crt,key};
//   * a backup snapshot of a dead cluster: the `openshift-config/etcd-signer`
//     and `etcd-metric-signer` Secrets (tls.crt, tls.key), read offline with
//     the snapshot engine, decrypted with the API server's encryption config
//     when Secrets are encrypted at rest (on a dead 4.3 cluster the etcd CA
//     keys live only there).
// LoadCaPairFromSnapshot reads any such CA Secret (the recovery API's kubelet
// CA too).
#pragma once

#include <optional>
#include <string>

#include "pki/ca_pair.h"
#include "pki/cert.h"
#include "pki/key.h"
#include "util/result.h"

namespace cpr::signer {

struct SigningCas {
  pki::Certificate ca;
  pki::PrivateKey ca_key;
  std::optional<pki::Certificate> metric_ca;
  std::optional<pki::PrivateKey> metric_key;
  std::string source;  // for logs: "pki dir /x", "snapshot s.db (/kubernetes.io/secrets/...)"
};

Result<SigningCas> LoadCasFromDir(const std::string& dir);

// `encryption_config`: path of an EncryptionConfiguration (YAML or JSON), or
// "" when Secrets are not encrypted.
Result<SigningCas> LoadCasFromSnapshot(const std::string& snapshot,
                                       const std::string& encryption_config);

// The CA pair (tls.crt, tls.key) of Secret `ns`/`name` in an etcd snapshot,
// under /kubernetes.io (OpenShift) or /registry, decrypted with
// `encryption_config` when it is encrypted at rest; nullopt when the snapshot
// has no such Secret. An error when it does not decrypt or decode, when the
// key does not match the certificate or the certificate is no CA. Both the
// etcd signer's CAs (above) and the recovery API's kubelet CA
// (openshift-kube-controller-manager-operator/csr-signer) are read with it.
Result<std::optional<pki::CaPair>> LoadCaPairFromSnapshot(const std::string& snapshot,
                                                          const std::string& encryption_config,
                                                          const std::string& ns,
                                                          const std::string& name);

}  // namespace cpr::signer
