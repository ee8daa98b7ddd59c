// HashKV offline: the value etcd 3.4's Maintenance.HashKV (`etcdctl
// endpoint hashkv --rev R`) returns on a member restored from a snapshot,
// computed from the file (mvcc/kvstore.go HashByRev).
//
// etcd hashes, with CRC-32C, the bucket name "key" and then every record of
// the key bucket at or below R, in revision order, as stored (revision key,
// KeyValue bytes) — except, at or below the compacted revision, records
// its index would drop on a compaction at R: of each key only the newest
// record at or below R, and none when that record is a tombstone
// (key_index.go keep). When no key is alive at R, nothing is skipped.
#pragma once

#include <algorithm>
#include <cstdint>

#include "etcd/backend.h"
#include "util/result.h"

namespace cpr::etcd {

struct HashKv {
  uint32_t hash = 0;
  int64_t revision = 0;          // the store's current revision (etcd's header.revision)
  int64_t compact_revision = 0;  // its compacted revision
  int64_t hashed_revision = 0;   // R: the revision hashed at
  uint64_t live_keys = 0;        // keys alive at R (its scan counts them)
};

struct HashKvOptions {
  // Held in memory (a live key scan and the kept revisions, half each);
  // past it, sorted runs wait in temporary files.
  uint64_t memory_budget = 24ULL << 20;
  int threads = 2;  // for the live key scan's pass (etcd/live_scan.h)
};

// The revision a member restored from the file starts at (mvcc/kvstore.go
// restore): 1, moved to the newest record, then to the compaction if that
// is higher.
inline int64_t StoreRevision(int64_t newest, int64_t compacted) {
  return std::max<int64_t>({1, newest, compacted});
}

// `rev` 0: the store's current revision. Refused as etcd refuses: at or
// below the compacted revision ("compacted"), above the current one
// ("future revision").
Result<HashKv> ComputeHashKv(const Backend& backend, int64_t rev,
                             const HashKvOptions& options = {});

}  // namespace cpr::etcd
