// RestoreDb: the db half of a restore. Verifies a snapshot (trailer, bbolt
// structure, etcd schema) and writes the restored member/snap/db with the
// changes etcdctl 3.4's restore makes (etcd-formats.md §5.4) plus CPR's
// --bump-revision, --mark-compacted and --clear-alarms.
//
// Walking the source's trees in key order reads its pages in random file
// order: a page fault each, most of the time of a restore on a big file. So
// the source is read twice, front to back, with large reads:
//   pass 1  bolt::PageIndex notes every page's header and branch children,
//           while a second thread hashes the file (the SHA-256 trailer, and
//           the whole file for a backup manifest);
//   pass 2  per top-level bucket, the leaves its tree reaches are read in
//           file order, checked (element bounds, key order within and
//           across leaves, schema of every record) and copied as they are
//           into the new file. bolt::Writer gives them new ids and builds
//           the branches over them in key order.
// Inline buckets and those the restore changes (meta; alarm when cleared)
// are rewritten element by element. Any fault stops the restore; the full
// fault list then comes from the tree walk of `snapshot verify`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "etcd/backend.h"
#include "util/result.h"

namespace cpr::etcd {

struct RestoreDbEdits {
  uint64_t consistent_index = 1;  // the number of members (§6.2)
  int64_t bump_to = 0;            // > 0: a tombstone at this revision (--bump-revision)
  bool mark_compacted = false;    // record bump_to as compacted (--mark-compacted)
  // Write only what etcd keeps after compacting at bump_to: the newest
  // record of each live key (needs mark_compacted). etcd then boots loading
  // those alone into its index; every read it answers is the same.
  bool compact = false;
  // > 0: the member as it was at this revision (--to-revision): the key
  // bucket keeps only records at or below it. REQUIRES: within the
  // source's [compacted revision, newest].
  int64_t to_revision = 0;
  bool clear_alarms = false;     // drop the alarm bucket's records
  bool skip_hash_check = false;  // no SHA-256 trailer to check (a bare db)
  std::string file_sha256;       // from a backup manifest (whole file); empty: none
  // Accept a source whose only faults are derivable (VerifyFault::
  // repairable): the new db's freelist is computed anew from its trees, and
  // a missing derivable bucket is written empty.
  bool repair = false;
};

struct RestoreDbResult {
  uint64_t bytes = 0;                // of the new db
  uint64_t keys = 0;                 // records written
  uint64_t compacted_away = 0;       // key revisions a compacting restore left out
  uint64_t after_revision = 0;       // key revisions above --to-revision left out
  uint64_t repaired = 0;             // repairable faults the source had (with repair)
  std::vector<std::string> repairs;  // the first of them, as verify names them
};

// Writes `path` (must not exist), then reads it back and checks it against
// what was read from the source before returning: the ten buckets, the key
// bucket's record count and newest revision, the consistent index. On any
// error the caller removes it.
Result<RestoreDbResult> WriteRestoredDb(const Backend& source, const std::string& path,
                                        const RestoreDbEdits& edits);

// The user key of the tombstone that carries --bump-revision: a key no one
// writes (it starts with NUL). etcd 3.4's index rebuild skips a tombstone
// for a key it never saw, yet it still sets the store's revision
// (mvcc/kvstore.go restoreIntoIndex).
inline constexpr std::string_view kBumpKey("\0cpr/bump-revision", 18);

}  // namespace cpr::etcd
