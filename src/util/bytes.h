// Fixed-width and varint decoding from byte spans, never past their end.
//
// bbolt structures are little-endian (etcd-formats.md "Conventions"); etcd's
// own keys and values are big-endian. Protobuf varints are LEB128
// (etcd-formats.md Appendix A).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace cpr {

// Bytes are handled as std::string_view throughout: a view into a mapped file
// or a buffer, valid as long as that storage lives.
using Bytes = std::string_view;

inline uint16_t LoadLe16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;  // CPR builds for little-endian hosts only (checked in CMake)
}
inline uint32_t LoadLe32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint64_t LoadLe64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint64_t LoadBe64(const char* p) { return __builtin_bswap64(LoadLe64(p)); }

inline void StoreLe16(char* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }
inline void StoreLe32(char* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }
inline void StoreLe64(char* p, uint64_t v) { std::memcpy(p, &v, sizeof v); }
inline void StoreBe64(char* p, uint64_t v) { StoreLe64(p, __builtin_bswap64(v)); }

// Reads fields in order from a span; every read checks the remaining length.
class ByteReader {
 public:
  explicit ByteReader(Bytes bytes) : bytes_(bytes) {}

  std::optional<uint8_t> U8() {
    if (pos_ >= bytes_.size()) return std::nullopt;
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  // nullopt when the bytes run out or the varint is longer than 10 bytes or
  // overflows 64 bits.
  std::optional<uint64_t> Uvarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos_ >= bytes_.size()) return std::nullopt;
      auto b = static_cast<uint8_t>(bytes_[pos_++]);
      if (shift == 63 && b > 1) return std::nullopt;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return std::nullopt;
  }
  std::optional<Bytes> Take(uint64_t n) {
    if (n > bytes_.size() - pos_) return std::nullopt;
    Bytes out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  bool Skip(uint64_t n) { return Take(n).has_value(); }

  bool done() const { return pos_ >= bytes_.size(); }
  size_t offset() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  Bytes bytes_;
  size_t pos_ = 0;
};

// Appends the LEB128 encoding of v.
template <class Out>
void AppendUvarint(Out& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

}  // namespace cpr
