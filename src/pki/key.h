// Private keys: generation (ECDSA P-256 by default, RSA 2048+ on request),
// PEM in and out (PKCS#8, unencrypted, as etcd and Kubernetes read them).
//
// A PrivateKey is a shared handle to an OpenSSL EVP_PKEY; copies share the
// key. Thread-safety: const methods may be used from several threads.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "util/bytes.h"
#include "util/result.h"

namespace cpr::pki {

enum class KeyType { kEcdsaP256, kRsa };

struct KeySpec {
  KeyType type = KeyType::kEcdsaP256;
  int rsa_bits = 2048;  // kRsa only; 2048..8192
};

// "ecdsa" (P-256), "rsa" (2048), "rsa:3072", "rsa:4096". `where` names the flag.
Result<KeySpec> ParseKeySpec(std::string_view text, const std::string& where);

class PrivateKey {
 public:
  // A fresh key from OpenSSL's CSPRNG.
  static Result<PrivateKey> Generate(const KeySpec& spec);
  // A fresh key of the same kind as `like` (same curve, same RSA size).
  static Result<PrivateKey> GenerateLike(EVP_PKEY* like);
  // Reads one PEM private key (PKCS#8, or the traditional "EC/RSA PRIVATE
  // KEY" forms). Encrypted keys are refused. `where` names the source.
  static Result<PrivateKey> FromPem(Bytes pem, const std::string& where);

  // PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
  std::string ToPem() const;
  // The public half as DER SubjectPublicKeyInfo: equal for a key and its cert.
  std::string PublicKeyDer() const;
  // "ECDSA P-256", "RSA 2048", ...
  std::string Description() const;

  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit PrivateKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// DER SubjectPublicKeyInfo of any EVP_PKEY (public or private).
std::string PublicKeyDerOf(EVP_PKEY* key);
// "ECDSA P-256", "RSA 2048", "Ed25519", ...
std::string DescribeKey(EVP_PKEY* key);
// The public exponent of an RSA key as decimal text ("65537", "3"); "" if
// `key` is not RSA.
std::string RsaPublicExponent(EVP_PKEY* key);

}  // namespace cpr::pki
