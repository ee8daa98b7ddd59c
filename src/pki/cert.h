// X.509 certificates: PEM in and out, and what a certificate says about
// itself (subject, issuer, SANs, validity, usages, CA flag, key ids).
//
// A Certificate is a shared handle to an OpenSSL X509; copies share it.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pki/key.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cpr::pki {

// keyUsage bits, as in RFC 5280 (subset CPR sets or checks).
enum KeyUsage : uint32_t {
  kDigitalSignature = 1u << 0,
  kKeyEncipherment = 1u << 1,
  kCertSign = 1u << 2,
  kCrlSign = 1u << 3,
  kOtherKeyUsage = 1u << 8,  // nonRepudiation, dataEncipherment, keyAgreement, ...
};

// Extended key usages, by short name: "serverAuth", "clientAuth",
// "codeSigning", ... (OpenSSL's short names; unknown ones as dotted OIDs).
inline constexpr const char* kServerAuth = "serverAuth";
inline constexpr const char* kClientAuth = "clientAuth";

// A distinguished name as an ordered list of (short attribute name, value),
// e.g. {{"O","system:etcd-peers"},{"CN","system:etcd-peer:m1"}}.
struct Name {
  std::vector<std::pair<std::string, std::string>> entries;

  static Name Of(const std::string& common_name, const std::vector<std::string>& orgs = {});
  std::string CommonName() const;                  // the last CN, "" if none
  std::vector<std::string> Organizations() const;  // every O, in order
  // "O=system:etcd-peers, CN=system:etcd-peer:m1" (in stored order).
  std::string ToString() const;
};

struct CertInfo {
  Name subject, issuer;
  std::vector<std::string> dns_names;     // SAN dNSName
  std::vector<std::string> ip_addresses;  // SAN iPAddress, as text
  std::vector<std::string> other_sans;    // email:, URI:, ... (kept for display)
  int64_t not_before = 0, not_after = 0;  // unix seconds
  std::string serial_hex;
  bool is_ca = false;      // basicConstraints CA:TRUE
  int path_len = -1;       // -1: none
  uint32_t key_usage = 0;  // KeyUsage bits; 0 when the extension is absent
  bool has_key_usage = false;
  std::vector<std::string> ext_key_usages;
  std::string key_description;                   // "ECDSA P-256"
  std::string subject_key_id, authority_key_id;  // hex, "" if absent
  std::string sha256_fingerprint;                // hex of the DER
  bool self_issued = false;                      // subject == issuer
};

class Certificate {
 public:
  // The first certificate in `pem`.
  static Result<Certificate> FromPem(Bytes pem, const std::string& where);
  // Every "-----BEGIN CERTIFICATE-----" block in `pem`, in order; an error
  // names the block (1-based) that does not parse. Empty when there is none.
  static Result<std::vector<Certificate>> AllFromPem(Bytes pem, const std::string& where);
  static Result<Certificate> FromDer(Bytes der, const std::string& where);
  // Takes ownership of `x509`.
  static Certificate Adopt(X509* x509);

  std::string ToPem() const;
  std::string ToDer() const;
  CertInfo Info() const;
  // DER SubjectPublicKeyInfo.
  std::string PublicKeyDer() const;
  bool MatchesKey(const PrivateKey& key) const { return PublicKeyDer() == key.PublicKeyDer(); }
  // True when `issuer`'s subject is this certificate's issuer name and its
  // public key verifies this certificate's signature.
  bool IssuedBy(const Certificate& issuer) const;

  X509* get() const { return x509_.get(); }

 private:
  explicit Certificate(std::shared_ptr<X509> x) : x509_(std::move(x)) {}
  std::shared_ptr<X509> x509_;
};

// Reads a PEM file's certificates (bounded size). An error when the file
// holds none.
Result<std::vector<Certificate>> ReadCertificates(const std::string& path);
Result<PrivateKey> ReadPrivateKey(const std::string& path);
// Atomic writes (util/atomic_file.h): keys 0600, certificates 0644.
Result<void> WritePrivateKey(const std::string& path, const PrivateKey& key);
Result<void> WriteCertificates(const std::string& path, const std::vector<Certificate>& certs);

}  // namespace cpr::pki
