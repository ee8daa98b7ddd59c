// The temporary signer's request handling, apart from HTTP so that tests can
// drive it directly (and from many threads).
//
// It speaks the shape OpenShift's kube-client-agent uses with
// kube-etcd-signer-server (openshift-dr.md §2): a certificates.k8s.io
// CertificateSigningRequest posted as JSON, read back by name with
// status.certificate; plus `Authorization: Bearer <token>`, which that
// signer never had. Every decision is logged with its reason and the token's
// id, never the token.
//
// Thread-safety: every method may be called from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "https/status.h"
#include "signer/ca_source.h"
#include "signer/policy.h"
#include "signer/token_store.h"

namespace cpr::signer {

// Lines to stderr and <state>/audit.log (0600), each prefixed with the UTC
// time. Values are made printable so a request cannot forge log lines.
class AuditLog {
 public:
  explicit AuditLog(std::string path, bool to_stderr = true, std::string tag = "cpr-signer")
      : path_(std::move(path)), to_stderr_(to_stderr), tag_(std::move(tag)) {}
  void Write(const std::string& line);

 private:
  std::mutex mu_;
  std::string path_;
  bool to_stderr_;
  std::string tag_;  // after the time: who writes ("cpr-signer", "cpr-recovery-api")
};

// A value as it may appear in a log line: printable ASCII, at most 200
// characters, quoted when it holds a space.
std::string LogValue(std::string_view v);

inline constexpr size_t kMaxRequestBytes = 64 * 1024;

class SignerCore {
 public:
  struct Response {
    int status = 500;
    std::string body;  // JSON: the CSR object, or a Kubernetes Status
  };

  SignerCore(SigningCas cas, std::string state_dir, PolicyConfig policy, AuditLog* log);

  // POST .../certificatesigningrequests
  Response Create(const std::string& authorization, const std::string& content_type,
                  const std::string& body, const std::string& remote);
  // GET .../certificatesigningrequests/<name>: only with the token that created it.
  Response Get(const std::string& name, const std::string& authorization,
               const std::string& remote);
  // The token check that runs before anything of a POST's body is parsed:
  // nullopt when `authorization` carries a token that may sign now;
  // otherwise the refusal (401 no or unknown token, 403 spent, revoked,
  // expired), not logged (the HTTPS server logs it, rate-limited, since the
  // caller is not authenticated). Create runs it again under the store's lock.
  std::optional<Response> CheckToken(const std::string& authorization, std::string* reason);
  // Whether `authorization` carries a token this signer issued, in any state
  // (a spent one reads back the request it signed): before a GET is answered
  // or logged.
  bool KnowsToken(const std::string& authorization);

  // The time source (tests move it).
  std::function<int64_t()> now;

 private:
  struct Issued {
    std::string token_hash;
    std::string object;  // the JSON document returned
  };
  Response Refuse(int status, const std::string& reason, const std::string& token_id,
                  const std::string& host, const std::string& remote);

  SigningCas cas_;
  std::string state_dir_;
  TokenStore store_;
  PolicyConfig policy_;
  AuditLog* log_;
  std::mutex mu_;
  std::map<std::string, Issued> issued_;  // by CSR name
};

// The bearer token of an Authorization header value; "" if none.
using https::BearerToken;

// Maximum nesting of JSON arrays/objects in `text` (strings skipped), so
// absurd nesting is refused before parsing.
int JsonDepth(std::string_view text);

}  // namespace cpr::signer
