// Issuance for approved CSRs: the kubelet client and kubelet serving signer
// CAs of a `cpr pki init` directory (pki/kube_pki.h). Called only after the
// node policy passed (api.cc): an Approved condition alone signs nothing.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "pki/ca_pair.h"
#include "recovery/csr.h"
#include "util/result.h"

namespace cpr::recovery {

class Issuer {
 public:
  static Result<Issuer> FromPkiDir(const std::string& dir);
  // The certificate (PEM) for `csr`: its subject, its SANs (serving only),
  // the signer's usages, no CA, valid for spec.expirationSeconds or a year
  // (capped at the CA's end). kInvalidArgument for another signer.
  Result<std::string> Sign(const Csr& csr, int64_t now) const;

  const pki::CaPair& cluster_ca() const { return cluster_; }
  const pki::CaPair& client_ca() const { return client_; }

 private:
  Issuer(pki::CaPair cluster, pki::CaPair client, pki::CaPair serving)
      : cluster_(std::move(cluster)), client_(std::move(client)), serving_(std::move(serving)) {}
  pki::CaPair cluster_, client_, serving_;
};

}  // namespace cpr::recovery
