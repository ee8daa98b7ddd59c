#include "recovery/csr.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace cpr::recovery {

bool HasCondition(const Csr& csr, const std::string& type) {
  return std::any_of(csr.conditions.begin(), csr.conditions.end(),
                     [&](const Condition& c) { return c.type == type; });
}

std::string ConditionText(const Csr& csr) {
  std::string s = HasCondition(csr, "Denied")     ? "Denied"
                  : HasCondition(csr, "Approved") ? "Approved"
                                                  : "Pending";
  if (HasCondition(csr, "Failed")) s += ",Failed";
  if (!csr.certificate.empty()) s += ",Issued";
  return s;
}

bool KnownUsage(const std::string& u) {
  static const char* const kUsages[] = {"signing",
                                        "digital signature",
                                        "content commitment",
                                        "key encipherment",
                                        "key agreement",
                                        "data encipherment",
                                        "cert sign",
                                        "crl sign",
                                        "encipher only",
                                        "decipher only",
                                        "any",
                                        "server auth",
                                        "client auth",
                                        "code signing",
                                        "email protection",
                                        "s/mime",
                                        "ipsec end system",
                                        "ipsec tunnel",
                                        "ipsec user",
                                        "timestamping",
                                        "ocsp signing",
                                        "microsoft sgc",
                                        "netscape sgc"};
  return std::find(std::begin(kUsages), std::end(kUsages), u) != std::end(kUsages);
}

std::string ShortAge(int64_t s) {
  if (s < 0) s = 0;
  if (s < 120) return fmt::format("{}s", s);
  const int64_t m = s / 60, h = s / 3600, d = s / 86400;
  if (m < 10) return s % 60 ? fmt::format("{}m{}s", m, s % 60) : fmt::format("{}m", m);
  if (m < 180) return fmt::format("{}m", m);
  if (h < 8) return m % 60 ? fmt::format("{}h{}m", h, m % 60) : fmt::format("{}h", h);
  if (h < 48) return fmt::format("{}h", h);
  if (h < 192) return h % 24 ? fmt::format("{}d{}h", d, h % 24) : fmt::format("{}d", d);
  if (d < 365 * 2) return fmt::format("{}d", d);
  return fmt::format("{}y", d / 365);
}

std::optional<int64_t> ParseRfc3339(const std::string& text) {
  std::tm tm{};
  int frac_end = 0;
  if (text.size() < 20) return std::nullopt;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac_end) != 6)
    return std::nullopt;
  size_t i = static_cast<size_t>(frac_end);
  if (i < text.size() && text[i] == '.') {
    i++;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) i++;
  }
  if (i + 1 != text.size() || text[i] != 'Z') return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace cpr::recovery
