#include "pki/lifetime.h"

#include <fmt/format.h>

#include <ctime>
#include <limits>

namespace cpr::pki {

Result<int64_t> ParseLifetime(std::string_view text, const std::string& where) {
  auto bad = [&](const std::string& why) -> Result<int64_t> {
    return MakeError(Code::kInvalidArgument, where, fmt::format("bad duration '{}': {}", text, why),
                     "use a number with a unit: 90s, 15m, 1h, 30d, 1y, or combined like 1h30m");
  };
  if (text.empty()) return bad("empty");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > std::numeric_limits<int64_t>::max() / 100) return bad("too large");
      n = n * 10 + (text[i] - '0');
      i++;
    }
    if (i == start) return bad("expected a number");
    if (i == text.size()) return bad("missing unit");
    int64_t unit;
    switch (text[i]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      case 'y':
        unit = 365 * 86400;
        break;
      default:
        return bad(fmt::format("unknown unit '{}'", text[i]));
    }
    i++;
    // Stay far below the limits of time_t arithmetic (and of X.509: 9999).
    constexpr int64_t kMax = int64_t{200} * 365 * 86400;
    if (n > kMax / unit || total + n * unit > kMax) return bad("longer than 200 years");
    total += n * unit;
  }
  return total;
}

std::string FormatLifetime(int64_t seconds) {
  if (seconds == std::numeric_limits<int64_t>::min()) return std::to_string(seconds) + "s";
  if (seconds < 0) return "-" + FormatLifetime(-seconds);
  if (seconds == 0) return "0s";
  std::string out;
  if (seconds >= 86400) {
    out += fmt::format("{}d", seconds / 86400);
    seconds %= 86400;
  }
  if (seconds >= 3600) {
    out += fmt::format("{}h", seconds / 3600);
    seconds %= 3600;
  }
  if (seconds >= 60) {
    out += fmt::format("{}m", seconds / 60);
    seconds %= 60;
  }
  if (seconds > 0) out += fmt::format("{}s", seconds);
  return out;
}

std::string FormatTimeUtc(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return std::to_string(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace cpr::pki
