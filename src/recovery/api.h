// The recovery API's request handling (certificates.k8s.io v1 and v1beta1
// CertificateSigningRequests, discovery, health) as an https::Handler: Admit
// sees the head (credentials checked before the body is read), Handle the
// whole request.
//
// Authorization: system:masters may do everything; system:bootstrappers and
// system:nodes may create, get, list and watch; anyone else authenticated
// gets 403, and no credentials 401 (health and /version need none).
// Server-side rules (k8s-csr-api.md §6): requestor set from the caller,
// status cleared on create, spec.request parsed and its signature verified,
// Approved/Denied exclusive and final, resourceVersion conflicts 409, an
// approval answered with the object. Approving runs the node policy
// (policy.h): refused → 403 with the reason; passed → signed at once. An
// approval by system:masters whose Approved condition has reason
// CPRPolicyOverride and a justification (message) runs the policy with the
// identity rules waived (PolicyMode::kOperatorOverride); the audit log keeps
// the caller, the justification and what the full policy said.
//
// Thread-safety: Handle may run on many threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "https/server.h"
#include "recovery/auth.h"
#include "recovery/issuer.h"
#include "recovery/policy.h"
#include "recovery/store.h"
#include "signer/core.h"

namespace cpr::recovery {

struct ApiConfig {
  Inventory inventory;
  std::string tokens_file;  // bootstrap tokens (auth.h)
  int max_watch_seconds = 1800;
};

class Api {
 public:
  Api(Store* store, const Issuer* issuer, ApiConfig config, signer::AuditLog* log);
  // Before the body is read (https::Handler::admit): callers without valid
  // credentials are refused here, so no body parser runs for them.
  std::optional<https::Response> Admit(const https::Request& request);
  https::Response Handle(const https::Request& request);
  // Ends running watches (before the server stops).
  void Shutdown();

  std::function<int64_t()> now;  // unix seconds (tests move it)

 private:
  struct Call;
  https::Response Route(Call& call);
  https::Response List(Call& call);
  https::Response Watch(Call& call);
  https::Response Get(Call& call, const std::string& name);
  https::Response Create(Call& call);
  https::Response Delete(Call& call, const std::string& name);
  https::Response UpdateApproval(Call& call, const std::string& name);
  https::Response UpdateStatus(Call& call, const std::string& name);
  https::Response UpdateMain(Call& call, const std::string& name);
  using Prepare = std::function<std::optional<https::Response>(const Csr& body, const Csr& cur)>;
  using Apply = std::function<void(const Csr& body, Csr& stored)>;
  https::Response Put(Call& call, const std::string& name, const Prepare& prepare,
                      const Apply& apply);
  std::string PolicyVerdict(const Csr& csr, PolicyMode mode = PolicyMode::kFull);
  struct Override {
    bool granted = false;
    std::string justification, refusal;
  };
  static Override OverrideOf(const Call& call, const std::vector<Condition>& conditions);
  AuthOutcome Authenticate(const https::Request& request);

  Store* store_;
  const Issuer* issuer_;
  ApiConfig config_;
  signer::AuditLog* log_;
  std::atomic<bool> stopping_{false};
};

}  // namespace cpr::recovery
