// Certificate and token lifetimes as operators type them: "90s", "15m",
// "1h", "30d", "1y", combined ("1h30m"); Go's "8760h" works too. And back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace cpr::pki {

// Seconds. Units: s, m, h, d (24 h), w (7 d), y (365 d). A bare number is
// rejected (ambiguous). `where` names the flag in the error ("--ttl").
Result<int64_t> ParseLifetime(std::string_view text, const std::string& where);

// The largest whole units: 86400 -> "1d", 5400 -> "1h30m", 45 -> "45s".
std::string FormatLifetime(int64_t seconds);

// Unix seconds as RFC 3339 UTC: "2026-11-28T07:00:00Z".
std::string FormatTimeUtc(int64_t unix_seconds);

}  // namespace cpr::pki
