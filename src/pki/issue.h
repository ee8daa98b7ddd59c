// Issuing certificates: self-signed CAs, leaves signed by a CA, and the
// re-issue of an existing certificate with the same subject and extensions.
//
// Every certificate gets a 128-bit serial from OpenSSL's CSPRNG
// (RAND_bytes), a SHA-256 signature, subjectKeyIdentifier and (when signed by
// another certificate) authorityKeyIdentifier, so chains are built by key id
// and survive a CA renewed with the same key.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pki/cert.h"
#include "pki/key.h"
#include "util/result.h"

namespace cpr::pki {

// Certificates start this long before "now", so a clock a little behind on
// another host still accepts them (cfssl does the same).
inline constexpr int64_t kBackdateSeconds = 5 * 60;

struct CertSpec {
  Name subject;
  std::vector<std::string> dns_names, ip_addresses;
  bool is_ca = false;
  int path_len = -1;       // CA only; -1 leaves it out
  uint32_t key_usage = 0;  // KeyUsage bits; 0: chosen from is_ca and the key type
  std::vector<std::string> ext_key_usages;
  int64_t not_before = 0, not_after = 0;  // unix seconds
};

// A self-signed certificate (a CA when spec.is_ca).
Result<Certificate> IssueSelfSigned(const CertSpec& spec, const PrivateKey& key);

// A certificate for `subject_key` (a public key: from a CSR or a key)
// signed by `issuer` with `issuer_key`. REQUIRES: issuer_key matches issuer.
Result<Certificate> IssueSigned(const CertSpec& spec, EVP_PKEY* subject_key,
                                const Certificate& issuer, const PrivateKey& issuer_key);

// A new certificate with `old`'s subject and extensions (SANs, key usages,
// basic constraints, others copied as they are; key identifiers recomputed),
// a new serial and the validity given, for `subject_key`, signed by `issuer`
// or, when issuer is null, self-signed with `signer_key` (a CA renewal).
Result<Certificate> Reissue(const Certificate& old, EVP_PKEY* subject_key,
                            const Certificate* issuer, const PrivateKey& signer_key,
                            int64_t not_before, int64_t not_after);

// 16 random bytes as a positive ASN.1 INTEGER, hex (for tests and logs).
Result<std::string> RandomSerialHex();

}  // namespace cpr::pki
