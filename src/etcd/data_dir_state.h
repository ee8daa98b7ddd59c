// DataDirState: what a member's data dir holds, read offline (etcd stopped
// or not: only committed bytes are read, nothing is locked or written), for
// `cpr survey`: which master to restore quorum on.
//
//   WAL   (member/wal/*.wal, §5.5) the member and cluster IDs (metadata
//         record), the last entry's term and index, the last HardState
//         (term, commit), the newest snapshot record. A torn tail (a record
//         cut by a crash: etcd repairs it at boot) ends the read and is noted.
//   .snap (member/snap/<term>-<index>.snap) the newest one's term and index.
//   db    (member/snap/db) the consistent index (what was applied), the
//         revision and the compaction, the members.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::etcd {

struct DataDirState {
  std::string data_dir;
  uint64_t member_id = 0, cluster_id = 0;
  std::string member_name;                 // from the db's members bucket ("" if unknown)
  uint64_t last_index = 0, last_term = 0;  // the WAL's last entry (raft's "up to date")
  uint64_t commit = 0, hard_term = 0;      // the last HardState
  uint64_t snap_index = 0, snap_term = 0;  // the newest .snap file
  uint64_t wal_segments = 0;
  uint64_t consistent_index = 0;  // the db's: entries applied
  int64_t revision = 0, compact_revision = 0;
  size_t members = 0;
  bool etcd_running = false;       // the db is locked by an etcd
  std::vector<std::string> notes;  // torn tail, missing pieces
};

// kNotFound when there is no member/ in `data_dir`.
Result<DataDirState> ReadDataDirState(const std::string& data_dir);

// True while an etcd runs on `data_dir`: bbolt holds an exclusive flock on
// member/snap/db as long as the db is open.
bool DataDirLockedByEtcd(const std::string& data_dir);

// Raft's order of logs (raft paper §5.4.1): the later last term, then the
// longer log. The member whose log is most up to date holds every entry
// that was committed by a quorum it was part of.
bool MoreUpToDate(const DataDirState& a, const DataDirState& b);

}  // namespace cpr::etcd
