#include "util/text.h"

#include <fmt/format.h>

#include <cmath>

#include "util/hash.h"

namespace cpr {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string Base64Encode(Bytes data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == data.size()) {
    uint32_t v = p[i] << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    int v;
    if (c == '=') {
      if (i + 2 < text.size()) return std::nullopt;
      pad++;
      continue;
    }
    if (pad) return std::nullopt;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

bool IsPrintableAscii(Bytes data) {
  for (char c : data)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

std::string Printable(Bytes data) {
  if (IsPrintableAscii(data)) return std::string(data);
  return "0x" + HexOf(data);
}

std::string HumanizeBytes(uint64_t n) {
  if (n < 10) return fmt::format("{} B", n);
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  const double d = static_cast<double>(n);
  int e = static_cast<int>(std::floor(std::log(d) / std::log(1000.0)));
  if (e > 6) e = 6;
  const double v = std::floor(d / std::pow(1000.0, e) * 10 + 0.5) / 10;
  return v >= 10 ? fmt::format("{:.0f} {}", v, kUnits[e]) : fmt::format("{:.1f} {}", v, kUnits[e]);
}

bool IsValidUtf8(Bytes data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t i = 0, n = data.size();
  while (i < n) {
    uint8_t c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else
      return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

}  // namespace cpr
