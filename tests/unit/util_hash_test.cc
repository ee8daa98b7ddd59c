#include <gtest/gtest.h>

#include <random>
#include <string>

#include "util/hash.h"

namespace cpr {
namespace {

TEST(Crc32c, CheckValue) { EXPECT_EQ(Crc32c(0, "123456789"), 0xE3069283u); }

TEST(Crc32c, ChainsLikeOneCall) {
  const std::string a = "The quick brown fox ", b = "jumps over the lazy dog, thirty-one times";
  EXPECT_EQ(Crc32c(Crc32c(0, a), b), Crc32c(0, a + b));
}

TEST(Crc32c, EveryLengthAndAlignment) {
  // The hardware path handles 8-byte words then a tail, and ISA-L takes
  // pieces from 256 bytes: compare against a bitwise reference for every
  // length up to 600 and offset.
  std::string data;
  for (int i = 0; i < 608; i++) data.push_back(static_cast<char>(i * 37 + 11));
  auto reference = [](Bytes d) {
    uint32_t c = ~0u;
    for (char ch : d) {
      c ^= static_cast<uint8_t>(ch);
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78 : c >> 1;
    }
    return ~c;
  };
  for (size_t off = 0; off < 8; off++)
    for (size_t len = 0; off + len <= data.size(); len++)
      ASSERT_EQ(Crc32c(0, Bytes(data).substr(off, len)), reference(Bytes(data).substr(off, len)))
          << off << "+" << len;
}

TEST(Crc32c, CombineEqualsOneCrc) {
  std::string a = "etcd snapshot", b;
  for (int i = 0; i < 5000; i++) b.push_back(static_cast<char>(i * 7));
  for (size_t cut : {0u, 1u, 7u, 64u, 4096u, 5000u}) {
    const std::string x = b.substr(0, cut);
    EXPECT_EQ(Crc32cCombine(Crc32c(0, a), Crc32c(0, x), x.size()), Crc32c(0, a + x)) << cut;
  }
  EXPECT_EQ(Crc32cCombine(0, Crc32c(0, a), a.size()), Crc32c(0, a));
}

// The carry-less multiply and the bit loop agree (the CPU's path is the one
// the joiner takes here), and a joiner over many pieces of uneven lengths
// equals one CRC over their concatenation.
TEST(Crc32c, MultiplyModPAgreesAndJoinerEqualsOneCrc) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; i++) {
    const auto a = static_cast<uint32_t>(rng()) | 1u;  // never 0: x^n mod P is never 0
    const auto b = static_cast<uint32_t>(rng());
    ASSERT_EQ(internal::MultModP(a, b, false), internal::MultModP(a, b, true)) << a << " " << b;
  }
  std::string all;
  Crc32cJoiner joiner;
  for (int i = 0; i < 3000; i++) {
    std::string piece(rng() % (i % 3 == 0 ? 9000 : 40), '\0');
    for (char& c : piece) c = static_cast<char>(rng());
    joiner.Append(Crc32c(0, piece), piece.size());
    all += piece;
  }
  EXPECT_EQ(joiner.crc(), Crc32c(0, all));
}

TEST(Fnv1a64, EmptyIsOffsetBasis) { EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL); }

TEST(Fnv1a64, KnownVector) { EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL); }

TEST(Sha256, DigestSoFarLetsHashingGoOn) {
  Sha256 h;
  h.Update("body");
  EXPECT_EQ(h.DigestSoFar(), Sha256Of("body"));
  h.Update("+trailer");
  EXPECT_EQ(h.Finish(), Sha256Of("body+trailer"));
}

TEST(Sha256, EmptyString) {
  Sha256Digest d = Sha256Of("");
  EXPECT_EQ(HexOf(Bytes(reinterpret_cast<const char*>(d.data()), d.size())),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha1, Abc) {
  Sha1Digest d = Sha1Of("abc");
  EXPECT_EQ(HexOf(Bytes(reinterpret_cast<const char*>(d.data()), d.size())),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
}

}  // namespace
}  // namespace cpr
