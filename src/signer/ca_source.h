// Where the temporary signer's CAs come from:
//   * a `cpr pki init` directory: D/ca.{crt,key} and, when present,
//     D/metric-ca.{crt,key};
//   * a backup snapshot of a dead cluster: the `openshift-config/etcd-signer`
//     and `etcd-metric-signer` Secrets (tls.crt, tls.key), read offline with
//     the snapshot engine, decrypted with the API server's encryption config
//     when Secrets are encrypted at rest (on a dead 4.3 cluster the etcd CA
//     keys live only there).
#pragma once

#include <optional>
#include <string>

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

}  // namespace cpr::signer
