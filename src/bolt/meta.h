// The bbolt meta page (etcd-formats.md §1.4): decoding, validation, and the
// choice between the two copies.
#pragma once

#include <cstdint>
#include <string>

#include "bolt/page.h"
#include "util/result.h"

namespace cpr::bolt {

constexpr uint32_t kMagic = 0xED0CDAED;
constexpr uint32_t kVersion = 2;
constexpr size_t kMetaOffset = 16;  // within the page
constexpr size_t kMetaSize = 64;    // through the checksum

struct Meta {
  uint32_t magic = 0;
  uint32_t version = 0;
  uint32_t page_size = 0;
  uint32_t flags = 0;
  Pgid root = 0;
  uint64_t root_sequence = 0;
  Pgid freelist = kNoFreelist;
  Pgid pgid = 0;  // high-water mark: pages 0 .. pgid-1 may be referenced
  uint64_t txid = 0;
  uint64_t checksum = 0;

  // Decodes the 64 bytes at page offset 16. REQUIRES: page.size() >= 80.
  static Meta Decode(Bytes page);
  // FNV-1a 64 over meta bytes 0..55 (§1.4.2).
  static uint64_t ComputeChecksum(Bytes page);
  // Writes this meta into a page image (header included). REQUIRES: page
  // size >= 80; `id` is the page id (0 or 1).
  void EncodeInto(char* page, Pgid id) const;

  // §1.4.2: magic, then version, then checksum (0 = not checked), with
  // bbolt's messages "invalid database", "version mismatch", "checksum error".
  Result<void> Validate(Bytes page) const;
};

// Picks the page size and the current meta as bbolt Open does (§1.4.3).
// `file` is the whole file; `name` goes into errors.
struct MetaChoice {
  Meta meta;
  int page = 0;             // 0 or 1: which copy is current
  std::string other_fault;  // why the other copy was invalid, if it was
};
Result<MetaChoice> ChooseMeta(Bytes file, const std::string& name);

}  // namespace cpr::bolt
