// etcd's MVCC revision keys in the `key` bucket (etcd-formats.md §2.2):
// 8-byte big-endian main revision, '_', 8-byte big-endian sub revision, and
// an optional 't' marking a tombstone. Byte order equals revision order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "util/bytes.h"

namespace cpr::etcd {

constexpr size_t kRevisionKeySize = 17;
constexpr size_t kTombstoneKeySize = 18;

// The highest revision CPR starts a member at (--bump-revision): etcd keeps
// counting up from it in int64, and 2^62 leaves room for 4.6e18 more writes
// where a bump to near 2^63 would overflow on etcd's next write.
constexpr int64_t kMaxRevision = int64_t{1} << 62;

struct Revision {
  int64_t main = 0;
  int64_t sub = 0;
  bool tombstone = false;

  // nullopt unless `key` is 17 bytes with '_' at 8, or 18 with 't' at 17.
  static std::optional<Revision> Parse(Bytes key);
  // The 17-byte key (18 with the tombstone mark).
  std::string Encode() const;
  // "1234_0", with " (tombstone)" appended when marked.
  std::string ToString() const;
};

// Revision order (§2.2: the key bucket's byte order): main, then sub. The
// tombstone mark is not part of a revision's place.
inline bool Earlier(const Revision& a, const Revision& b) {
  return a.main != b.main ? a.main < b.main : a.sub < b.sub;
}

}  // namespace cpr::etcd
