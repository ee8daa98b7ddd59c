// LiveKeyCounter: counts user keys alive at the newest revision while the
// `key` bucket streams by in revision order, in bounded memory.
//
// It keeps one 64-bit fingerprint per distinct user key (8 bytes a key,
// open addressing) with a "last seen as a put" bit, so a 2 GB snapshot with
// a million keys needs ~16 MB. Past kMaxKeys distinct keys it gives up
// (count() is nullopt) rather than grow without bound. Two distinct keys
// sharing a 63-bit fingerprint would be counted once: for a million keys the
// odds are about 1 in 10^7.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "util/bytes.h"

namespace cpr::etcd {

class LiveKeyCounter {
 public:
  static constexpr uint64_t kMaxKeys = 6'000'000;
  // Records the newest record of `user_key`: a put or a tombstone.
  void Add(Bytes user_key, bool tombstone);
  // The same, with the key already hashed (std::hash<std::string_view>);
  // true when the key (its fingerprint) was seen before.
  bool AddFingerprint(uint64_t hash, bool tombstone);
  // Sizes the table for `keys` distinct keys at most, once: no doubling
  // (and no old table beside the new one) while they are added.
  void Reserve(uint64_t keys);
  std::optional<uint64_t> count() const;

 private:
  void Grow(uint64_t slots);
  std::vector<uint64_t> slots_;  // 0 = empty; else fingerprint<<1 | live
  uint64_t used_ = 0;
  uint64_t live_ = 0;
  bool gave_up_ = false;
};

}  // namespace cpr::etcd
