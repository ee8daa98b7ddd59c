// A CA certificate with its key, as the `pki init` layouts keep them
// (<name>.crt + <name>.key), reused when present.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pki/cert.h"
#include "pki/etcd_pki.h"
#include "pki/key.h"
#include "util/result.h"

namespace cpr::pki {

struct CaPair {
  Certificate cert;
  PrivateKey key;
};

// The CA at crt/key: nullopt when neither file exists; an error when only
// one does, when they do not match, or when the certificate is no CA.
Result<std::optional<CaPair>> LoadExistingCa(const std::string& crt, const std::string& key);

// The CA pair at `stem`.crt/.key (LoadExistingCa, nullopt is kNotFound).
Result<CaPair> LoadCa(const std::string& stem);

// `existing` when set (listed as reused in `out`), else a new self-signed
// CA (subject OU=openshift, CN=`cn`) written to crt/key and listed as created.
Result<CaPair> MakeOrReuseCa(const std::string& crt, const std::string& key, const char* cn,
                             const std::string& what, const KeySpec& key_spec, int64_t validity,
                             int64_t now, const std::optional<CaPair>& existing,
                             std::vector<InitFile>& out);

}  // namespace cpr::pki
