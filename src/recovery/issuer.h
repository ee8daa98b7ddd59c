// Issuance for approved CSRs. Called only after the node policy passed
// (api.cc): an Approved condition alone signs nothing.
//
// The kubelet CA (what signs kubelet client and serving certificates, and is
// trusted for client certificates so renewed kubelets authenticate) is, by
// KubeletCaOptions: the kubelet-client-ca and kubelet-serving-ca of the
// `cpr pki init` directory (pki/kube_pki.h); or one existing CA for both
// signers, as OpenShift's csr-signer is, from --ca/--ca-key files or from a
// backup's csr-signer Secret (openshift-kube-controller-manager-operator,
// else openshift-kube-controller-manager). The directory's kube-ca stays the
// cluster CA (the API's serving certificate, admin client certificates).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "pki/ca_pair.h"
#include "recovery/csr.h"
#include "util/result.h"

namespace cpr::recovery {

struct KubeletCaOptions {
  std::string cert, key;          // --ca, --ca-key
  std::string snapshot;           // --ca-from-snapshot
  std::string encryption_config;  // --encryption-config (with --ca-from-snapshot)
};

class Issuer {
 public:
  // Refused: a half-given or doubly-given source, a key that does not match
  // its certificate, a certificate that is no CA or has expired at `now`, a
  // snapshot without the Secret.
  static Result<Issuer> Load(const std::string& pki_dir, const KubeletCaOptions& kubelet_ca,
                             int64_t now);
  // The certificate (PEM) for `csr`: its subject, its SANs (serving only),
  // the signer's usages, no CA, valid for spec.expirationSeconds or a year
  // (capped at the CA's end). kInvalidArgument for another signer.
  Result<std::string> Sign(const Csr& csr, int64_t now) const;

  const pki::CaPair& cluster_ca() const { return cluster_; }
  const pki::CaPair& client_ca() const { return client_; }
  // Where the kubelet CA came from, for the logs.
  const std::string& kubelet_ca_source() const { return source_; }

 private:
  Issuer(pki::CaPair cluster, pki::CaPair client, pki::CaPair serving, std::string source)
      : cluster_(std::move(cluster)),
        client_(std::move(client)),
        serving_(std::move(serving)),
        source_(std::move(source)) {}
  pki::CaPair cluster_, client_, serving_;
  std::string source_;
};

}  // namespace cpr::recovery
