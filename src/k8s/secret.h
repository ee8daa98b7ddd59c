// Secrets as the API server stores them, for reading CA keys out of a backup
// offline (the etcd-signer Secrets of a dead OpenShift 4.3 cluster):
//   * the `k8s\0` protobuf envelope around a core/v1 Secret
//     {1 metadata, 2 data map<string,bytes>, 3 type} (k8s-values.md §2, §3);
//   * optionally encrypted at rest (§5) with aescbc or aesgcm, given the
//     keys of the API server's EncryptionConfiguration.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace cpr::k8s {

struct SecretData {
  std::string name, namespace_, type;
  std::map<std::string, std::string> data;  // the bytes, already base64-decoded
};

// Decodes a stored (plaintext) Secret. nullopt when the value is not a
// `k8s\0` v1 Secret or is malformed.
std::optional<SecretData> DecodeSecret(Bytes value);

// One key of an EncryptionConfiguration provider.
struct EncryptionKey {
  std::string provider;  // "aescbc", "aesgcm", "secretbox"
  std::string name;      // as in the prefix: k8s:enc:<provider>:v1:<name>:
  std::string secret;    // the raw key bytes (base64-decoded)
};

// The plaintext of a value encrypted at rest (k8s-values.md §5), or the value
// itself when it carries no `k8s:enc:` prefix. `etcd_key` is the value's key
// (aesgcm authenticates it). Errors name the provider and key name when no
// key fits, when the provider is not supported (secretbox, kms), or when
// decryption fails (wrong key).
Result<std::string> DecryptValue(Bytes value, Bytes etcd_key,
                                 const std::vector<EncryptionKey>& keys);

}  // namespace cpr::k8s
