// Chain checks with OpenSSL's verifier: does a certificate chain up to one
// of the trusted certificates, optionally at a given time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pki/cert.h"
#include "util/result.h"

namespace cpr::pki {

struct VerifyOptions {
  // Unix seconds to check validity at; nullopt ignores validity periods
  // (only signatures, names and CA flags count).
  std::optional<int64_t> at_time;
  // "serverAuth" or "clientAuth": also require that purpose; "" for any.
  std::string purpose;
};

// Verifies `leaf` against `trusted` (any of them may end the chain: a CA that
// is itself signed by another is still trusted when listed), with
// `intermediates` as untrusted helpers. The error says why (OpenSSL's reason
// and the depth).
Result<void> VerifyChain(const Certificate& leaf, const std::vector<Certificate>& trusted,
                         const std::vector<Certificate>& intermediates = {},
                         const VerifyOptions& options = {});

}  // namespace cpr::pki
