#include "util/hash.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#if defined(__x86_64__)
#include <nmmintrin.h>
#include <wmmintrin.h>
#endif
#if defined(CPR_HAVE_ISAL)
#include <isa-l/crc.h>
#endif

namespace cpr {
namespace {

// Pieces at least this long go to ISA-L when it is linked (see Crc32c).
[[maybe_unused]] constexpr size_t kIsalFrom = 256;

// Reflected Castagnoli polynomial (etcd-formats.md Appendix A).
constexpr uint32_t kCastagnoli = 0x82F63B78;

struct Crc32cTable {
  uint32_t t[8][256];
  Crc32cTable() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ kCastagnoli : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
};

// Slicing-by-8: the fallback for CPUs without SSE4.2.
uint32_t Crc32cPortable(uint32_t c, const uint8_t* p, size_t n) {
  static const Crc32cTable table;
  const auto& t = table.t;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    w ^= c;
    c = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
        t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(uint32_t c, const uint8_t* p, size_t n) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = _mm_crc32_u64(c64, w);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c64);
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

bool HaveSse42() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}
#endif

}  // namespace

uint32_t Crc32c(uint32_t crc, Bytes data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  uint32_t c = ~crc;
#if defined(CPR_HAVE_ISAL)
  // ISA-L folds several streams with PCLMUL: 2.5x the loop below from 256
  // bytes up (24-28 GB/s against 10 here), slower on shorter pieces. Its
  // crc32_iscsi(p, n, c) is the loop's register value, not inverted.
  if (data.size() >= kIsalFrom) {
    for (size_t n = data.size(); n > 0;) {
      const size_t piece = std::min<size_t>(n, size_t{1} << 30);  // its length is an int
      c = crc32_iscsi(const_cast<uint8_t*>(p), static_cast<int>(piece), c);
      p += piece;
      n -= piece;
    }
    return ~c;
  }
#endif
#if defined(__x86_64__)
  if (HaveSse42()) return ~Crc32cHardware(c, p, data.size());
#endif
  return ~Crc32cPortable(c, p, data.size());
}

namespace {

// GF(2) product of two reflected polynomials modulo the CRC polynomial, a
// bit at a time (zlib's multmodp).
uint32_t MultModPPortable(uint32_t a, uint32_t b) {
  if (a == 0) return 0;  // the loop below ends at a's lowest set bit
  uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kCastagnoli : b >> 1;
  }
  return p;
}

#if defined(__x86_64__)
// The same with one carry-less multiply and one CRC instruction. In the
// reflected order (bit 31 holds x^0) the product of a and b, degree <= 62,
// lands in bits 0..62 with x^0 at bit 62; shifted up one, the high word is
// its terms x^0..x^31 as a reflected word, and the low word its terms
// x^32..x^63 as a message word m with m(x)*x^32 = those terms, which the
// CRC instruction reduces modulo P (crc32(0, m) = m(x)*x^32 mod P).
__attribute__((target("pclmul,sse4.2"))) uint32_t MultModPClmul(uint32_t a, uint32_t b) {
  const __m128i product = _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(a)),
                                               _mm_cvtsi32_si128(static_cast<int>(b)), 0);
  const uint64_t shifted = static_cast<uint64_t>(_mm_cvtsi128_si64(product)) << 1;
  return static_cast<uint32_t>(shifted >> 32) ^ _mm_crc32_u32(0, static_cast<uint32_t>(shifted));
}

bool HavePclmul() {
  static const bool have = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.2");
  return have;
}
#endif

uint32_t MultModP(uint32_t a, uint32_t b) { return internal::MultModP(a, b, /*portable=*/false); }

struct PowerTable {
  uint32_t x2n[32];  // x^(2^k) mod P
  PowerTable() {
    uint32_t p = 1u << 30;  // x^1
    x2n[0] = p;
    for (int k = 1; k < 32; k++) x2n[k] = p = MultModP(p, p);
  }
};

// x^(8n) mod P: the operator that shifts a CRC past n zero bytes.
uint32_t X8nModP(uint64_t n) {
  static const PowerTable table;
  uint32_t p = 1u << 31;  // x^0
  int k = 3;
  while (n) {
    if (n & 1) p = MultModP(table.x2n[k & 31], p);
    n >>= 1;
    k++;
  }
  return p;
}

}  // namespace

namespace internal {
uint32_t MultModP(uint32_t a, uint32_t b, bool portable) {
#if defined(__x86_64__)
  if (!portable && HavePclmul()) return MultModPClmul(a, b);
#endif
  return MultModPPortable(a, b);
}
}  // namespace internal

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return MultModP(X8nModP(len_b), crc_a) ^ crc_b;
}

void Crc32cJoiner::Append(uint32_t crc_b, uint64_t len_b) {
  if (cache_.empty()) cache_.assign(8192, {~uint64_t{0}, 0});
  auto& slot = cache_[len_b & (cache_.size() - 1)];
  if (slot.first != len_b) slot = {len_b, X8nModP(len_b)};
  crc_ = MultModP(slot.second, crc_) ^ crc_b;
}

void Crc32cJoiner::AppendBytes(Bytes data) { crc_ = Crc32c(crc_, data); }

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (impl_->ctx == nullptr || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
}

Sha256::~Sha256() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256::Update(Bytes data) { EVP_DigestUpdate(impl_->ctx, data.data(), data.size()); }

Sha256Digest Sha256::DigestSoFar() const {
  Sha256Digest out{};
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  unsigned int len = 0;
  if (copy == nullptr || EVP_MD_CTX_copy_ex(copy, impl_->ctx) != 1 ||
      EVP_DigestFinal_ex(copy, out.data(), &len) != 1) {
    EVP_MD_CTX_free(copy);
    throw std::runtime_error("OpenSSL: cannot copy a SHA-256 context");
  }
  EVP_MD_CTX_free(copy);
  return out;
}

Sha256Digest Sha256::Finish() {
  Sha256Digest out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, out.data(), &len);
  return out;
}

Sha256Digest Sha256Of(Bytes data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

Sha1Digest Sha1Of(Bytes data) {
  Sha1Digest out{};
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::string HexOf(Bytes data) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (char c : data) {
    auto b = static_cast<uint8_t>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

}  // namespace cpr
