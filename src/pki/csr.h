// Certificate signing requests (PKCS#10): made from a local key (the private
// key never leaves the host), read back, their signature checked, and what
// they ask for listed so a signer can apply a policy to it.
#pragma once

#include <openssl/types.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "pki/cert.h"
#include "pki/key.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cpr::pki {

struct CsrSpec {
  Name subject;
  std::vector<std::string> dns_names, ip_addresses;
  // Requested extensions; empty/false leaves them out (the signer decides).
  std::vector<std::string> ext_key_usages;  // "serverAuth", "clientAuth", ...
  bool request_ca = false;                  // basicConstraints CA:TRUE (tests only)
};

// What a CSR asks for.
struct CsrInfo {
  Name subject;
  std::vector<std::string> dns_names, ip_addresses, other_sans;
  bool requests_ca = false;  // basicConstraints CA:TRUE in the requested extensions
  bool has_basic_constraints = false;
  std::vector<std::string> ext_key_usages;
  uint32_t key_usage = 0;
  std::vector<std::string> other_extensions;  // requested extensions CPR does not know
  std::string key_description;
  bool signature_valid = false;  // the CSR is signed by the key it carries
};

class CertRequest {
 public:
  static Result<CertRequest> Create(const PrivateKey& key, const CsrSpec& spec);
  static Result<CertRequest> FromPem(Bytes pem, const std::string& where);

  std::string ToPem() const;
  CsrInfo Info() const;
  // DER SubjectPublicKeyInfo of the requested key.
  std::string PublicKeyDer() const;
  EVP_PKEY* public_key() const;  // owned by the request

  X509_REQ* get() const { return req_.get(); }

 private:
  explicit CertRequest(std::shared_ptr<X509_REQ> r) : req_(std::move(r)) {}
  std::shared_ptr<X509_REQ> req_;
};

}  // namespace cpr::pki
