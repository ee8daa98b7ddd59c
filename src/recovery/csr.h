// A CertificateSigningRequest as the recovery API keeps it (one struct for
// certificates.k8s.io v1 and v1beta1; k8s-csr-api.md §3.2, §6), and the
// rules on its fields that do not depend on who asks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cpr::recovery {

struct Condition {
  std::string type, status, reason, message;
  std::string last_update_time, last_transition_time;  // RFC 3339, "" = unset
};

struct Csr {
  // metadata
  std::string name, generate_name, uid;
  int64_t resource_version = 0;
  std::string creation_timestamp;  // RFC 3339 UTC
  std::map<std::string, std::string> labels, annotations;
  // spec
  std::string request;  // the PEM (decoded from base64)
  std::string signer_name;
  std::vector<std::string> usages;
  std::string username, user_uid;
  std::vector<std::string> groups;
  std::optional<int64_t> expiration_seconds;
  // status
  std::vector<Condition> conditions;
  std::string certificate;                 // PEM, "" until issued
  bool has_body_resource_version = false;  // decoded from a request body that carried one
};

inline constexpr const char* kGroup = "certificates.k8s.io";
// The annotation holding the node policy's verdict ("" = passes).
inline constexpr const char* kPolicyAnnotation = "recovery.cpr.io/policy";

bool HasCondition(const Csr& csr, const std::string& type);
// "Pending", "Approved,Issued", "Denied", "Approved,Failed" (k8s-csr-api.md §4).
std::string ConditionText(const Csr& csr);

// Known spec.usages strings (k8s-csr-api.md §6).
bool KnownUsage(const std::string& usage);

// Kubernetes' short age: 45s, 7m2s, 25m, 3h4m, 26h, 3d4h, 12d.
std::string ShortAge(int64_t seconds);

// Unix seconds of an RFC 3339 UTC time (pki::FormatTimeUtc writes them);
// nullopt when malformed.
std::optional<int64_t> ParseRfc3339(const std::string& text);

}  // namespace cpr::recovery
