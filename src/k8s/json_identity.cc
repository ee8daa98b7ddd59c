// DescribeIdentity (value.h): JSON values scanned, not parsed, when they
// stay inside a subset of JSON that nlohmann::json certainly accepts.
//
// `ls` of a 2 GB snapshot describes ~340k values; building a document of
// every JSON one (custom resources, up to 1 MB) was most of its time. The
// scanner here accepts only what nlohmann also accepts and reads the same
// strings from it: strings of well-formed UTF-8 without control characters
// (escapes decoded as nlohmann decodes them), numbers of at most 64
// characters without an exponent (no overflow), true/false/null, nesting at
// most 512 deep (ParseJsonObject's limit).
// Anything else, valid or not, makes it give up, and DescribeValue decides.
// Repeated keys behave as in nlohmann's document: the last one wins.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "k8s/value.h"
#include "k8s/value_internal.h"

namespace cpr::k8s {
namespace {

constexpr int kMaxDepth = 512;

class JsonIdentityScan {
 public:
  explicit JsonIdentityScan(Bytes value) : p_(value.data()), end_(value.data() + value.size()) {}

  // True when the whole value is one object in the subset; `o` then holds
  // what DescribeValue would give for the identity fields.
  bool Run(Object& o) {
    o.encoding = Object::Encoding::kJson;
    if (!Members(1, [&](const std::string& key) { return Top(key, o); })) return false;
    Ws();
    return p_ == end_;
  }

 private:
  bool Top(const std::string& key, Object& o) {
    if (key == "apiVersion") return StringOrClear(o.api_version, 1);
    if (key == "kind") return StringOrClear(o.kind, 1);
    if (key != "metadata") return Value(1);
    o.name.clear();
    o.namespace_.clear();
    if (p_ == end_ || *p_ != '{') return Value(1);
    return Members(2, [&](const std::string& k) {
      if (k == "name") return StringOrClear(o.name, 2);
      if (k == "namespace") return StringOrClear(o.namespace_, 2);
      return Value(2);
    });
  }

  // A field taken only when its (last) value is a string, as StringAt does.
  bool StringOrClear(std::string& field, int depth) {
    field.clear();
    if (p_ != end_ && *p_ == '"') return String(&field);
    return Value(depth);
  }

  void Ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) p_++;
  }
  bool Eat(char c) {
    if (p_ == end_ || *p_ != c) return false;
    p_++;
    return true;
  }

  // `open` item (',' item)* `close`, or `open` `close`, at nesting `depth`.
  template <class Fn>
  bool Sequence(int depth, char open, char close, Fn item) {
    if (depth > kMaxDepth || !Eat(open)) return false;
    Ws();
    if (Eat(close)) return true;
    for (;;) {
      Ws();
      if (!item()) return false;
      Ws();
      if (Eat(',')) continue;
      return Eat(close);
    }
  }

  // An object at nesting `depth` (1: the value itself); on_member reads
  // each member's value, the scanner standing on it.
  template <class Fn>
  bool Members(int depth, Fn on_member) {
    std::string key;
    return Sequence(depth, '{', '}', [&] {
      key.clear();
      if (!String(&key)) return false;
      Ws();
      if (!Eat(':')) return false;
      Ws();
      return on_member(key);
    });
  }

  bool Array(int depth) {
    return Sequence(depth, '[', ']', [&] { return Value(depth); });
  }

  // A value inside `depth` containers.
  bool Value(int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return Members(depth + 1, [&](const std::string&) { return Value(depth + 1); });
      case '[':
        return Array(depth + 1);
      case '"':
        return String(nullptr);
      case 't':
      case 'f':
      case 'n':
        return Literal();
      default:
        return Number();
    }
  }

  // true, false or null.
  bool Literal() {
    for (const std::string_view w : {"true", "false", "null"}) {
      if (static_cast<size_t>(end_ - p_) >= w.size() && std::string_view(p_, w.size()) == w) {
        p_ += w.size();
        return true;
      }
    }
    return false;
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?, at most 64 characters.
  bool Number() {
    const char* start = p_;
    Eat('-');
    auto digits = [&] {
      const char* d = p_;
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') p_++;
      return p_ - d;
    };
    if (Eat('0')) {
      // a lone zero: a digit after it is not JSON (the caller sees it)
    } else if (p_ == end_ || *p_ < '1' || *p_ > '9' || digits() == 0) {
      return false;
    }
    if (Eat('.') && digits() == 0) return false;
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) return false;
    return p_ - start <= 64;
  }

  // A string: UTF-8 without control characters, escapes decoded as
  // nlohmann does; `out` gets it decoded (nullptr: skipped).
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    const char* run = p_;
    for (;;) {
      SkipPlain();
      while (p_ != end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) {
        if (static_cast<unsigned char>(*p_) < 0x80) {
          p_++;
        } else if (!Utf8()) {
          return false;
        }
      }
      if (p_ == end_) return false;
      if (out != nullptr) out->append(run, p_);
      if (*p_ == '"') {
        p_++;
        return true;
      }
      if (*p_ != '\\' || !Escape(out)) return false;  // a control character, or a bad escape
      run = p_;
    }
  }

  // Skips 8 bytes at a time while none of them is '"', '\\', a control
  // character or non-ASCII (a word test for each, as in "Bit Twiddling
  // Hacks"): long strings, such as a custom resource's data, go fast.
  void SkipPlain() {
    constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
    auto has_zero = [&](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
    while (end_ - p_ >= 8) {
      uint64_t w;
      std::memcpy(&w, p_, 8);
      const uint64_t special = has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\')) |
                               ((w - kOnes * 0x20) & ~w & kHigh) | (w & kHigh);
      if (special != 0) return;
      p_ += 8;
    }
  }

  // One escape (the scanner on its backslash), appended to `out` if set.
  bool Escape(std::string* out) {
    if (end_ - p_ < 2) return false;
    static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
    const size_t simple = kFrom.find(p_[1]);
    if (simple != std::string_view::npos) {
      if (out != nullptr) out->push_back(kTo[simple]);
      p_ += 2;
      return true;
    }
    uint32_t cp = 0;
    if (!Hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate first
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t low = 0;
      if (!Hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (out != nullptr) AppendUtf8(*out, cp);
    return true;
  }

  // "\\uXXXX" at the scanner, any case of hex digits.
  bool Hex4(uint32_t& cp) {
    if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') return false;
    cp = 0;
    for (int i = 2; i < 6; i++) {
      const char h = p_[i];
      const int d = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
      if (d < 0) return false;
      cp = cp * 16 + static_cast<uint32_t>(d);
    }
    p_ += 6;
    return true;
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // One well-formed UTF-8 sequence of 2-4 bytes (RFC 3629, as nlohmann
  // checks it), the scanner past it.
  bool Utf8() {
    const auto b = [&](ptrdiff_t i) { return static_cast<unsigned char>(p_[i]); };
    const unsigned char c = b(0);
    int n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (end_ - p_ <= n || b(1) < lo || b(1) > hi) return false;
    for (int i = 2; i <= n; i++)
      if (b(i) < 0x80 || b(i) > 0xBF) return false;
    p_ += n + 1;
    return true;
  }

  const char* p_;
  const char* end_;
};

}  // namespace

Object DescribeIdentity(Bytes value) {
  // DescribeValue takes a value for JSON only when it starts with '{'.
  if (!value.empty() && value[0] == '{') {
    Object o;
    if (JsonIdentityScan(value).Run(o)) return o;
  }
  Object full = internal::Describe(value, /*identity=*/true);
  Object o;
  o.encoding = full.encoding;
  o.api_version = std::move(full.api_version);
  o.kind = std::move(full.kind);
  o.name = std::move(full.name);
  o.namespace_ = std::move(full.namespace_);
  o.encryption_provider = std::move(full.encryption_provider);
  o.encryption_key_name = std::move(full.encryption_key_name);
  return o;
}

}  // namespace cpr::k8s
