// Restore: turns an etcd snapshot into a member data directory that etcd
// 3.4 boots, as `etcdctl snapshot restore` does (etcd-formats.md §5), with
// the same IDs, a byte-identical WAL and .snap, and a db whose status hash
// equals etcdctl's. Read like etcdutl's Restore:
//
//   PlanRestore   validate the flags, compute IDs, resolve the source, refuse
//                 an existing member (or plan to move it aside), check space.
//                 Reads only: its result is what --dry-run prints.
//   RunRestore    in a staging dir inside the data dir (or beside it): verify
//                 the source (trailer, structure, schema) while writing the
//                 db (etcd/restore_db.h); write the WAL and .snap; fsync
//                 everything; rename the WAL dir (with --wal-dir) and then
//                 the member dir into place: the member's rename is the
//                 commit point. A kill at any moment leaves no member or a
//                 complete one; a re-run removes stale staging dirs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "etcd/backup_set.h"
#include "etcd/membership.h"
#include "etcd/records.h"
#include "util/result.h"

namespace cpr::etcd {

struct RestoreConfig {
  std::string source;  // snapshot file, bare db, backup folder or legacy tar.gz
  std::string stamp;   // with a backup folder: which backup (default: newest)
  std::string name = "default";
  std::string initial_cluster;  // default: "default=http://localhost:2380" (§5.1)
  std::string token = "etcd-cluster";
  std::string advertise_peer_urls = "http://localhost:2380";
  std::string data_dir;  // default: <name>.etcd
  std::string wal_dir;   // default: <data-dir>/member/wal
  bool skip_hash_check = false;
  int64_t bump_revision = 0;    // write revision newest+N so revisions never go back
  bool mark_compacted = false;  // record newest+N as compacted (needs bump)
  bool move_aside = false;      // move an existing member aside instead of refusing
  bool clear_alarms = false;    // drop alarms (NOSPACE) stored in the snapshot
  std::string owner;            // user[:group]; default: owner of an existing data dir
  bool repair = false;          // rebuild derivable faults (etcd/restore_db.h)
  int64_t to_revision = 0;      // > 0: the member as it was at this revision
};

struct RestorePlan {
  Membership membership;
  BackupSet source;
  std::string data_dir, wal_dir, member_dir;
  bool data_dir_exists = false;
  bool stage_inside = false;  // staging inside the data dir (it exists, or --wal-dir is under it)
  bool custom_wal_dir = false;
  std::string move_member_to;  // set when an existing member is moved aside
  std::string move_wal_to;     // same for an existing --wal-dir
  uint64_t source_bytes = 0;
  int64_t revision = 0;          // newest revision in the snapshot
  int64_t compact_revision = 0;  // finished compaction in the snapshot
  int64_t new_revision = 0;      // revision the member starts at (after bump)
  bool mark_compacted = false;   // compacted at new_revision (only the newest of each live key)
  int64_t to_revision = 0;       // --to-revision (0: the newest)
  std::vector<Alarm> alarms;
  bool chown = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<std::string> warnings;

  // What RunRestore will do, one line per step (the --dry-run output).
  std::vector<std::string> Steps() const;
  // The etcd flags that start this member afterwards.
  std::string EtcdCommand() const;
};

// Reads only. Errors name the flag or path at fault.
Result<RestorePlan> PlanRestore(const RestoreConfig& config);

struct RestoreResult {
  uint64_t db_bytes = 0;
  uint64_t keys = 0;
  uint64_t compacted_away = 0;  // key revisions left out by --mark-compacted
  uint64_t after_revision = 0;  // key revisions above --to-revision left out
  // --to-revision: leases that keys alive at that revision name but the
  // snapshot no longer holds (revoked or expired since): those keys come
  // back without their lease, and never expire.
  std::vector<int64_t> missing_leases;
  std::string moved_member_to, moved_wal_to;
  uint64_t repaired = 0;                // derivable faults of the source rebuilt (--repair)
  std::vector<std::string> repairs;     // the first of them
  std::vector<std::string> step_times;  // "verify+write db 0.41s", ...
};

// REQUIRES: `plan` came from PlanRestore(config).
Result<RestoreResult> RunRestore(const RestoreConfig& config, const RestorePlan& plan);

}  // namespace cpr::etcd
