// Verify: is this snapshot (or bare db) sound? Three checks, every fault
// listed (not just the first):
//   trailer  the SHA-256 trailer (etcd-formats.md §3), unless skipped;
//   bolt     the bbolt structure (bolt/check.h);
//   schema   etcd's schema (§2): revision keys, KeyValue records whose
//            mod_revision equals their key's revision, meta/consistent_index,
//            member JSON, leases, alarms, no nested buckets.
// The trailer is hashed on a second thread while the tree is walked.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::etcd {

struct VerifyOptions {
  bool skip_hash_check = false;
  size_t max_faults = 1000;  // faults kept; all are counted
};

struct VerifyFault {
  std::string check;  // "trailer", "bolt", "schema"
  uint64_t page = 0;  // 0: not about one page
  std::string what;
};

struct VerifyReport {
  bool trailer_present = false;
  bool trailer_checked = false;
  std::string trailer_sha256;  // stored trailer, hex
  uint64_t pages = 0;          // high-water mark
  uint64_t revisions = 0;      // records in the `key` bucket
  int64_t revision = 0;        // newest
  uint64_t fault_count = 0;
  std::vector<VerifyFault> faults;
  bool ok() const { return fault_count == 0; }
};

// An Error only when the file cannot be opened as bbolt at all (missing,
// not bbolt, both metas bad, truncated below its high-water mark); every
// other problem is a fault in the report.
Result<VerifyReport> Verify(const std::string& path, const VerifyOptions& options);

}  // namespace cpr::etcd
