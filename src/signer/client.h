// The client side of the temporary signer: `cpr certs request` (the
// kube-client-agent analog, what `member recover` calls) and the
// kubeconfig-shaped recovery file of `cpr signer token --kubeconfig`.
//
// RequestCertificate makes the key and CSR locally (the private key never
// leaves the host), posts the CSR over HTTPS verified against the pinned CA,
// reads it back by name, checks the returned certificate (chains to the
// pinned CA, matches the key, carries the requested subject, is no CA), and
// only then writes OUT/<file>.key (0600), OUT/<file>.crt and the issuing CA
// (OUT/ca.crt, or OUT/metric-ca.crt for metrics), in the layout of pki init.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pki/cert.h"
#include "pki/etcd_pki.h"
#include "pki/key.h"
#include "util/result.h"

namespace cpr::signer {

struct RequestOptions {
  std::string signer_url;  // https://HOST:PORT
  std::string token;
  std::string ca_pem;  // the CA(s) to pin: the signer's and the issuer's
  pki::Profile profile = pki::Profile::kPeer;
  std::string name;  // the host
  std::vector<std::string> ips, dns;
  std::string out_dir;
  pki::KeySpec key;
  std::optional<int64_t> lifetime;  // spec.expirationSeconds
  int timeout_seconds = 30;
};

struct RequestResult {
  std::string cert_path, key_path, ca_path;
  pki::CertInfo info;
};

Result<RequestResult> RequestCertificate(const RequestOptions& options);

// A kubeconfig-shaped file as 4.3's .recoveryconfig was: server, CA data and
// the token as the user's credential.
struct RecoveryConfig {
  std::string server, ca_pem, token, user;
};
std::string RenderRecoveryConfig(const RecoveryConfig& config);
Result<RecoveryConfig> LoadRecoveryConfig(const std::string& path);

}  // namespace cpr::signer
