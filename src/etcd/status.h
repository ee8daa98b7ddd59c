// Status: what `etcdctl snapshot status` prints (etcd-formats.md §4.1),
// computed in one walk over the file, plus what an operator needs to know
// about a backup before trusting it (members, compaction, live keys, sizes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "etcd/backend.h"
#include "etcd/hashkv.h"

namespace cpr::etcd {

struct BucketStats {
  std::string name;
  uint64_t keys = 0;
  uint64_t bytes = 0;  // key + value bytes
  bool is_inline = false;
  uint64_t branch_pages = 0, leaf_pages = 0, overflow_pages = 0;
};

struct Status {
  // etcdctl's four numbers (§4.1).
  uint32_t hash = 0;
  int64_t revision = 0;
  uint64_t total_key = 0;
  uint64_t total_size = 0;

  uint32_t page_size = 0;
  uint64_t txid = 0;
  bool has_trailer = false;
  std::vector<BucketStats> buckets;
  uint64_t branch_pages = 0, leaf_pages = 0, overflow_pages = 0, free_pages = 0;
  uint64_t used_bytes = 0, tree_bytes = 0;  // fill = used / tree bytes (branch+leaf pages)

  std::optional<uint64_t> consistent_index;
  int64_t compact_revision = 0;
  int64_t scheduled_compact_revision = 0;
  std::string cluster_version;
  std::vector<Member> members;
  std::vector<Alarm> alarms;
  AuthInfo auth;
  uint64_t leases = 0;
  // User keys alive at `revision`; nullopt when the file holds more
  // revisions or distinct keys than status's memory budget allows counting
  // (status.cc kMaxRecords; ComputeHashKv's HashKv::live_keys counts them).
  std::optional<uint64_t> live_keys;
  // etcd's HashKV at the current revision, when the pass could tell it
  // (status.cc HashKvFromLeaves); nullopt: ask ComputeHashKv.
  std::optional<HashKv> hash_kv;
};

struct StatusOptions {
  // Also tell Status::hash_kv (8 more bytes per revision kept, and the
  // leaves whose records hashKV may skip read again).
  bool with_hash_kv = false;
  // What the pass keeps: 40 B per reachable leaf (up to 80 MB for an 8 GB
  // file of small values), then, in what is left, per key-bucket revision
  // a fingerprint (8 B, 16 with hashKV) and the live key counter's table
  // (<= 24 B). Past it the live key count is given up (nullopt) and hashKV
  // left to ComputeHashKv, whose scan spills: with the binary, buffers and
  // hashKV's tail keys (<= 8 MB), status stays under 128 MB at etcd's 8 GB
  // whatever the number of revisions.
  uint64_t memory_budget = 88ULL << 20;
};

// Fails, like etcdctl, when the structural check finds any fault; the error
// lists the first ones and says to run `cpr snapshot verify`.
Result<Status> ComputeStatus(const Backend& backend, const StatusOptions& options = {});

}  // namespace cpr::etcd
