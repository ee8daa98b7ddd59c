// MVCC views of a backend, computed offline from the `key` bucket
// (etcd-formats.md §2.2): which keys are alive at a revision, one key's
// value, one key's history, and the difference between two files.
//
// The `key` bucket is ordered by revision, not by user key, so each of these
// is one ordered scan that stops at the requested revision. Memory: one
// entry per distinct user key (key bytes + ~48 bytes); values stay in the
// file and are read when printed.
//
// Lifetime: Records point into the Backend's file and live as long as it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "etcd/backend.h"

namespace cpr::etcd {

struct Record {
  Revision rev;
  KeyValue kv;  // a tombstone carries only kv.key
};

// Checks `requested` against what the file can answer, as etcd does: 0 means
// the newest revision; below the compacted revision is "compacted", above
// the newest a "future revision". Returns the revision to read at.
Result<int64_t> ResolveRevision(const Backend& backend, int64_t requested);

// Live keys at a revision, sorted by key.
class KeySet {
 public:
  size_t size() const { return order_.size(); }
  int64_t revision() const { return revision_; }
  Bytes key(size_t i) const;
  // The revision of the record that makes key(i) alive (no read).
  Revision revision(size_t i) const;
  // The record that makes key(i) alive, read with pread (in key order the
  // records lie at random places: a read costs less than page faults).
  // Its views live until the next call on this KeySet.
  Result<Record> record(size_t i) const;

 private:
  friend Result<KeySet> LiveKeys(const Backend&, int64_t, Bytes);
  struct Entry {
    uint64_t key_offset;  // into arena_
    uint32_t key_size;
    uint32_t record_size;
    const char* record;  // the KeyValue bytes in the file
    int64_t main;
    int64_t sub;
    bool tombstone;
  };
  const Backend* backend_ = nullptr;
  int64_t revision_ = 0;
  std::string arena_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> order_;  // live entries, by key
  mutable std::string buffer_;   // the record last read
};

// REQUIRES: `revision` came from ResolveRevision.
Result<KeySet> LiveKeys(const Backend& backend, int64_t revision, Bytes prefix);

// The live record of one key at `revision`; nullopt when absent or deleted.
Result<std::optional<Record>> GetKey(const Backend& backend, Bytes key, int64_t revision);

// Every record of one key still in the file, oldest first.
Result<std::vector<Record>> History(const Backend& backend, Bytes key);

}  // namespace cpr::etcd
