// `cpr certs regenerate`: re-issue expired or expiring certificates from the
// CA keys on this host (seed §3.4, done offline instead of through a
// recovery API server).
//
// The plan is a function of its own and *is* the dry run:
//   1. scan the paths (pki/inventory.h) and find the signers: each --ca/--ca-key
//      pair, or, when none is given, every CA certificate in the paths whose
//      key lies beside it;
//   2. a signer CA that is expired or expiring (within `warn`) is renewed with
//      the same key and subject (its leaves keep verifying: their
//      authorityKeyIdentifier and signature still match); with rotate_ca
//      every signer gets a new key, its leaves are all re-issued, and the CA
//      file becomes a bundle [new, old] (old left out once expired) so both
//      generations verify during the switch;
//   3. every other certificate that is expired, expiring or not yet valid,
//      and was issued by a signer, is re-issued with the same subject, SANs
//      and usages, a new serial and a new validity; its key is kept unless
//      rotate_keys;
//   4. certificates from an issuer without a key here, and those inside
//      kubeconfigs, are reported and not touched.
// Running it: each replaced file is first hard-linked (or, across
// filesystems, renamed) into a timestamped folder next to the first path,
// then the new content is written atomically over it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/result.h"

namespace cpr::pki {

struct RegenerateOptions {
  std::vector<std::string> paths;
  std::vector<std::pair<std::string, std::string>> signers;  // (--ca, --ca-key)
  int64_t warn_seconds = 30 * 86400;
  // New lifetimes; nullopt: the certificate's own former lifetime, at least a day.
  std::optional<int64_t> leaf_validity, ca_validity;
  bool rotate_keys = false;
  bool rotate_ca = false;
  std::string backup_dir;  // "": <parent of paths[0]>/<name>.old-<stamp>
  int64_t now = 0;         // unix seconds; 0: the current time
};

enum class RegenerateKind {
  kRenewCa,      // same key, same subject, new validity
  kRotateCa,     // new key, same subject; file becomes a bundle
  kReissue,      // a leaf (or intermediate) re-issued
  kNoIssuerKey,  // needs renewal, but its issuer's key is not here
  kNotTouched,   // needs renewal, but lives in a kubeconfig / cannot be rewritten
};
const char* RegenerateKindName(RegenerateKind kind);

struct RegenerateAction {
  RegenerateKind kind;
  std::string path;      // certificate file
  std::string key_path;  // its key ("" when not needed / unknown)
  std::string subject;
  std::string issuer;  // the signer's certificate path
  std::string reason;  // "expired 3d ago", "its CA gets a new key", ...
  int64_t old_not_after = 0, new_not_after = 0;
  bool new_key = false;
};

struct RegenerateReport {
  std::vector<RegenerateAction> actions;
  std::string backup_dir;  // where old files went ("" for a dry run or no change)
  std::vector<std::string> warnings;
  bool dry_run = false;
};

Result<RegenerateReport> Regenerate(const RegenerateOptions& options, bool dry_run);

}  // namespace cpr::pki
