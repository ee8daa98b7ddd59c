// Checksums and digests used by etcd's formats, one function each.
//   CRC-32C: snapshot status hash (etcd-formats.md §4.1), WAL (§5.5.3),
//            .snap files (§5.6.1).  Hardware (SSE4.2) when the CPU has it.
//   FNV-1a 64: bbolt meta page checksum (§1.4.2).
//   SHA-256: snapshot trailer (§3.1), via OpenSSL.
//   SHA-1: member and cluster IDs (§5.2), via OpenSSL.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/bytes.h"

namespace cpr {

// Go crc32.Update(crc, castagnoli, data): standard CRC-32C continuing from crc.
// Crc32c(0, "123456789") == 0xE3069283.
uint32_t Crc32c(uint32_t crc, Bytes data);

// CRC-32C of A||B from Crc32c(0, A), Crc32c(0, B) and B's length (zlib's
// crc32_combine, for the Castagnoli polynomial): lets a file be hashed in
// pieces, in any order, and the pieces joined in the order the format says.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// Joins CRCs of consecutive pieces; caches the shift operator per length
// (pages repeat lengths), so joining a piece costs one multiplication.
class Crc32cJoiner {
 public:
  void Append(uint32_t crc_b, uint64_t len_b);
  void AppendBytes(Bytes data);
  uint32_t crc() const { return crc_; }

 private:
  uint32_t crc_ = 0;
  std::vector<std::pair<uint64_t, uint32_t>> cache_;  // len -> operator, direct-mapped
};

namespace internal {
// a*b modulo the CRC-32C polynomial, reflected (zlib's multmodp); with the
// CPU's carry-less multiply unless `portable`. Exposed for tests.
uint32_t MultModP(uint32_t a, uint32_t b, bool portable);
}  // namespace internal

inline uint64_t Fnv1a64(Bytes data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : data) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

using Sha256Digest = std::array<uint8_t, 32>;
using Sha1Digest = std::array<uint8_t, 20>;

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(Bytes data);
  // The digest of what was hashed so far; hashing can go on afterwards (a
  // snapshot's body hash and whole-file hash come from one pass).
  Sha256Digest DigestSoFar() const;
  Sha256Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Sha256Digest Sha256Of(Bytes data);
Sha1Digest Sha1Of(Bytes data);

std::string HexOf(Bytes data);

}  // namespace cpr
