// kubeconfig files (what kubectl reads): one cluster, one user, one
// context, credentials inline (*-data, token); when reading, also from the
// files a kubeconfig names (certificate-authority, client-certificate,
// client-key, tokenFile; relative to the kubeconfig's folder).
#pragma once

#include <string>

#include "util/result.h"

namespace cpr::k8s {

struct Kubeconfig {
  std::string name = "cpr-recovery";  // cluster and context name
  std::string server;                 // https://HOST:PORT
  std::string ca_pem;
  std::string user = "admin";
  std::string token;                            // bearer token, or
  std::string client_cert_pem, client_key_pem;  // a client certificate
};

std::string RenderKubeconfig(const Kubeconfig& config);
// The current context's cluster and user (or the first ones).
Result<Kubeconfig> LoadKubeconfig(const std::string& path);

}  // namespace cpr::k8s
