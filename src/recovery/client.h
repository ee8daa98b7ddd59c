// The recovery API's client side, over HTTPS with a kubeconfig (server
// certificate verified against its CA; a client certificate or a bearer
// token): what `cpr csr list|describe|approve|deny` and `cpr csr request`
// (the kubelet's bootstrap) use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "recovery/csr.h"
#include "recovery/kubeconfig.h"
#include "util/result.h"

namespace cpr::recovery {

class ApiClient {
 public:
  static Result<ApiClient> Connect(const Kubeconfig& config);
  ~ApiClient();
  ApiClient(ApiClient&&) noexcept;

  Result<std::vector<Csr>> List(const std::string& field_selector, int64_t* resource_version);
  Result<Csr> Get(const std::string& name);
  // POST; kFailedPrecondition when the name exists.
  Result<Csr> Create(const Csr& csr);
  // PUT .../approval with the condition added (re-read and retried on 409).
  // A refusal (403) is kFailedPrecondition with the server's message.
  Result<Csr> SetCondition(const std::string& name, const std::string& type,
                           const std::string& reason, const std::string& message);
  // Watches from `resource_version` until `on_event` returns false, the
  // server ends the stream or `timeout_seconds` pass. kNotFound: expired.
  Result<void> Watch(const std::string& field_selector, int64_t resource_version,
                     int timeout_seconds,
                     const std::function<bool(const std::string& type, const Csr&)>& on_event);

 private:
  ApiClient() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct BootstrapOptions {
  std::string kubeconfig;  // the bootstrap kubeconfig (token)
  std::string node;
  std::string dir;  // written: kubelet-client.key (0600), kubelet-client.crt, kubelet.kubeconfig
  int timeout_seconds = 900;
};

struct BootstrapResult {
  std::string csr_name, cert_path, key_path, kubeconfig_path;
  int64_t not_after = 0;
};

// The kubelet's client bootstrap (k8s-csr-api.md §9): key made here, CSR
// node-csr-<hash> posted with the bootstrap token, list + watch by name
// until issued (or Denied/Failed, or the timeout), then the files.
Result<BootstrapResult> Bootstrap(const BootstrapOptions& options,
                                  const std::function<void(const std::string&)>& progress);

}  // namespace cpr::recovery
