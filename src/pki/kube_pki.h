// The Kubernetes side of `cpr pki init` (for the recovery API, issue 11):
//   D/kube-ca.{crt,key}             the cluster CA ("kube-apiserver-recovery-signer"):
//                                   signs the recovery API's serving
//                                   certificate and admin client certificates
//                                   (`cpr kubeconfig recover`), and is trusted
//                                   for client certificates
//   D/kubelet-client-ca.{crt,key}   signer kubernetes.io/kube-apiserver-client-kubelet:
//                                   kubelet client certificates (trusted for
//                                   client certificates: nodes authenticate with them)
//   D/kubelet-serving-ca.{crt,key}  signer kubernetes.io/kubelet-serving
// Existing pairs are reused; keys 0600.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pki/ca_pair.h"
#include "pki/etcd_pki.h"
#include "pki/key.h"
#include "util/result.h"

namespace cpr::pki {

inline constexpr const char* kKubeletClientSigner = "kubernetes.io/kube-apiserver-client-kubelet";
inline constexpr const char* kKubeletServingSigner = "kubernetes.io/kubelet-serving";

struct KubePkiPaths {
  std::string dir;
  std::string KubeCa() const { return dir + "/kube-ca"; }  // stems: + .crt / .key
  std::string KubeletClientCa() const { return dir + "/kubelet-client-ca"; }
  std::string KubeletServingCa() const { return dir + "/kubelet-serving-ca"; }
  // Bootstrap tokens handed out by `kubeconfig recover --bootstrap` (hashed).
  std::string BootstrapTokens() const { return dir + "/bootstrap-tokens.json"; }
};

// Creates (or reuses) the three CAs. REQUIRES: `dir` exists.
Result<std::vector<InitFile>> InitKubeCas(const std::string& dir, const KeySpec& key,
                                          int64_t validity, int64_t now);

}  // namespace cpr::pki
