#include "util/duration.h"

#include <cstdint>
#include <limits>

namespace cpr {
namespace {

struct Unit {
  std::string_view name;
  int64_t ns;
};
// Longest names first so "ms" is not read as "m".
constexpr Unit kUnits[] = {
    {"ns", 1},           {"us", 1000},      {"\xC2\xB5s", 1000},  // µs (U+00B5 micro sign)
    {"\xCE\xBCs", 1000},                                          // μs (U+03BC Greek mu)
    {"ms", 1000000},     {"s", 1000000000}, {"m", 60LL * 1000000000}, {"h", 3600LL * 1000000000}};

// Fraction digits of v / 10^prec, without trailing zeros ("" when none).
std::string Fraction(uint64_t v, int prec) {
  std::string digits;
  bool printed = false;
  for (int i = 0; i < prec; i++) {
    const int d = static_cast<int>(v % 10);
    v /= 10;
    printed = printed || d != 0;
    if (printed) digits.insert(digits.begin(), static_cast<char>('0' + d));
  }
  return digits.empty() ? "" : "." + digits;
}

}  // namespace

Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view text, const std::string& where) {
  auto bad = [&](const std::string& why) -> Error {
    return MakeError(Code::kInvalidArgument, where,
                     "invalid duration '" + std::string(text) + "': " + why,
                     "use Go duration syntax, e.g. 500ms, 2s, 1m30s");
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return bad("empty");
  // Exact integer nanoseconds; 128 bits so the overflow check itself cannot overflow.
  __int128 total = 0;
  while (!s.empty()) {
    uint64_t whole = 0;
    size_t i = 0;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (whole > (std::numeric_limits<uint64_t>::max() - 9) / 10) return bad("overflow");
      whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
      i++;
      digits = true;
    }
    uint64_t frac = 0, scale = 1;
    if (i < s.size() && s[i] == '.') {
      i++;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (scale < 1000000000000000000ULL) {
          frac = frac * 10 + static_cast<uint64_t>(s[i] - '0');
          scale *= 10;
        }
        i++;
        digits = true;
      }
    }
    if (!digits) return bad("expected a number");
    s.remove_prefix(i);
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (s.substr(0, u.name.size()) == u.name &&
          (unit == nullptr || u.name.size() > unit->name.size()))
        unit = &u;
    }
    if (unit == nullptr) return bad(s.empty() ? "missing unit" : "unknown unit");
    s.remove_prefix(unit->name.size());
    total += static_cast<__int128>(whole) * unit->ns +
             static_cast<__int128>(frac) * unit->ns / static_cast<__int128>(scale);
    if (total > std::numeric_limits<int64_t>::max()) return bad("overflow");
  }
  const auto ns = static_cast<int64_t>(total);
  return std::chrono::nanoseconds(negative ? -ns : ns);
}

std::string FormatGoDuration(std::chrono::nanoseconds d) {
  int64_t v = d.count();
  if (v == 0) return "0s";
  const bool negative = v < 0;
  const uint64_t u = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  std::string out;
  if (u < 1000000000ULL) {
    // Sub-second: the largest unit that keeps a non-zero integer part.
    if (u < 1000) {
      out = std::to_string(u) + "ns";
    } else if (u < 1000000) {
      out = std::to_string(u / 1000) + Fraction(u % 1000, 3) + "\xC2\xB5s";
    } else {
      out = std::to_string(u / 1000000) + Fraction(u % 1000000, 6) + "ms";
    }
  } else {
    const uint64_t secs = u / 1000000000ULL;
    const uint64_t frac = u % 1000000000ULL;
    const uint64_t h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
    out = std::to_string(s) + Fraction(frac, 9) + "s";
    if (secs >= 60) out = std::to_string(m) + "m" + out;
    if (secs >= 3600) out = std::to_string(h) + "h" + out;
  }
  return negative ? "-" + out : out;
}

}  // namespace cpr
