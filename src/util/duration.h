// Go-style durations ("2s", "1m30s", "500ms", "1.5h"), as etcdctl's
// --dial-timeout and --command-timeout take them and as etcdctl prints
// elapsed times ("4.857513ms").
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.h"

namespace cpr {

// Go's time.ParseDuration: a sequence of decimal numbers, each with an
// optional fraction and a unit (ns, us, µs, ms, s, m, h), optionally signed;
// "0" alone is zero. `where` names the flag in the error (kInvalidArgument).
Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view text, const std::string& where);

// Go's time.Duration.String(): "0s", "750ns", "1.5µs", "4.857513ms",
// "2.5s", "1m0s", "1h2m3.004s".
std::string FormatGoDuration(std::chrono::nanoseconds d);

}  // namespace cpr
