// `cpr certs check`: every certificate under some paths, classified.
//
// Scanning finds certificates in PEM files (any file holding a "BEGIN
// CERTIFICATE" block, bundles included) and in kubeconfig files (the base64
// `certificate-authority-data` / `client-certificate-data` fields, with
// `client-key-data` as the client certificate's key). Works offline on any
// tree, e.g. /etc/kubernetes on a dead master; reads files only.
//
// A certificate's key is looked for beside it: the same file, `<stem>.key`
// (ca.crt -> ca.key, tls.crt -> tls.key), or `<stem>-key.pem` (cfssl).
// Its issuer is looked for among every certificate found plus --ca.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pki/cert.h"
#include "pki/key.h"
#include "util/result.h"

namespace cpr::pki {

struct FoundCert {
  std::string path;                 // the file
  std::string source;               // "" for PEM; "kubeconfig client-certificate-data #1", ...
  int index = 0;                    // 0-based position among the certificates of path+source
  std::optional<Certificate> cert;  // unset: unreadable (see error)
  std::string error;
  std::string key_path;           // the key considered, "" if none
  std::optional<PrivateKey> key;  // set when key_path was readable
  std::string key_error;
};

struct Inventory {
  std::vector<FoundCert> certs;
  std::vector<std::string> warnings;  // directories that could not be read, ...
};

// Walks files and directories (recursively; directory symlinks are not
// followed). A path that does not exist is an error.
Result<Inventory> ScanPaths(const std::vector<std::string>& paths);

enum class CertStatus {
  kValid,
  kExpiring,
  kExpired,
  kNotYetValid,
  kKeyMismatch,
  kBrokenChain,
  kUnreadable,
};
// "valid", "expiring", "expired", "not yet valid", "key mismatch",
// "broken chain", "unreadable".
const char* CertStatusName(CertStatus status);
// Expired, not yet valid, broken chain, key mismatch and unreadable fail a check.
bool IsFailing(CertStatus status);

struct CheckedCert {
  FoundCert found;
  CertInfo info;  // empty when unreadable
  CertStatus status = CertStatus::kValid;
  std::string detail;        // why, for anything but valid
  std::string issuer_path;   // where the issuer was found ("" if not)
  int64_t seconds_left = 0;  // not_after - now
};

struct CheckOptions {
  std::vector<std::string> paths;
  std::vector<std::string> ca_files;  // trust anchors: every chain must end in one
  int64_t warn_seconds = 30 * 86400;
  int64_t now = 0;  // unix seconds; 0: the current time
};

struct CheckReport {
  std::vector<CheckedCert> certs;
  std::vector<std::string> warnings;
  std::map<CertStatus, int> counts;
  bool ok() const;  // nothing failing
};

Result<CheckReport> CheckCertificates(const CheckOptions& options);

// Classifies already-scanned certificates (used by regenerate too).
// `anchors` as CheckOptions::ca_files, loaded.
CheckReport Classify(const Inventory& inventory, const std::vector<Certificate>& anchors,
                     int64_t warn_seconds, int64_t now);

}  // namespace cpr::pki
