// `cpr backup DIR`: a backup in OpenShift's layout, taken from a live cluster
// and proved sound before it exists.
//
// A procedure of steps.h: `--dry-run` lists the steps and changes nothing;
// each step is timed; the journal (DIR/.cpr/journal/backup.json, 0700) lets a
// run killed at any point be cleaned up by the next run. DIR is made (0700)
// and locked before the steps, since the journal lives in it.
//
// Steps, in order (BackupSteps() lists them for --help):
//   choose-member  Status of every candidate endpoint; a healthy voting
//                  follower is preferred (spares the leader), else the leader.
//   prepare        what a killed run left goes (its journaled stamp's
//                  temporary files, and its tar.gz and manifest unless its
//                  .db was published); a fresh stamp, journaled before any
//                  file of it exists; enough free space.
//   stream         Maintenance.Snapshot into snapshot_<stamp>.db's temporary
//                  name, hashing as it arrives and checking etcd's SHA-256
//                  trailer at the end; meanwhile the static pod resources
//                  are archived into static_kuberesources_<stamp>.tar.gz's
//                  temporary name.
//   verify         `snapshot verify` of the received file: every bbolt page
//                  and etcd's schema (its SHA-256 trailer was checked on these
//                  very bytes as they arrived, so it is not hashed twice),
//                  while the file is fsynced and the member's HashKV at the
//                  file's revision is asked.
//   commit         rename + directory fsync: the tar.gz, then the manifest
//                  backup_<stamp>.json, then the .db last. The .db is the
//                  commit point: a backup without its .db does not exist.
//   prune          with --keep N, older backups beyond the newest N go, .db
//                  first.
// Any failure before the commit removes every file this run wrote (and DIR
// if this run created it), so a cut stream leaves nothing behind. A kill
// leaves the journal: the next backup into DIR removes what the killed run
// wrote and takes a fresh backup from the first step (a stream cannot be
// resumed half-way); a published backup is never removed. The journal goes
// when a run ends (the manifest is a finished backup's record).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.h"
#include "procedures/static_pod_resources.h"
#include "procedures/steps.h"
#include "util/result.h"

namespace cpr::procedures {

struct BackupOptions {
  std::string dir;                               // created 0700 if missing
  std::string resources = kDefaultResourcesDir;  // --resources
  bool no_resources = false;                     // --no-resources
  int keep = 0;                                  // --keep: 0 keeps every backup
  bool cluster = false;  // candidates: the member list's client URLs, not --endpoints
  bool dry_run = false;  // --dry-run: list the steps, change nothing (DIR not even made)
};

// DIR/.cpr holds the journal of a backup that is running (or was killed);
// never a backup, never pruned.
inline constexpr char kBackupStateDir[] = ".cpr";

struct BackupStep {
  std::string_view name, summary;
};
const std::vector<BackupStep>& BackupSteps();

// What the caller hears while a backup runs (all optional). `out` gets the
// step runner's lines ("[stream] done in 1.20s"); `progress` is called from
// the streaming thread for every chunk.
struct BackupObserver {
  std::function<void(const std::string& line)> out;
  std::function<void(uint64_t bytes, uint64_t total)> progress;
};

struct BackupFile {
  std::string path;  // absolute
  std::string name;  // within DIR
  uint64_t size = 0;
  std::string sha256;  // of the whole file, hex
};

struct BackupResult {
  std::string stamp;  // YYYY-MM-DD_HHMMSS (local time)
  std::string dir;    // absolute
  BackupFile snapshot;
  bool has_resources = false;
  BackupFile resources;
  ResourceSelection selection;
  std::string manifest_path;

  int64_t revision = 0;         // newest revision in the received file
  uint32_t hash_kv = 0;         // the file's own HashKV (etcd/hashkv.h): a restore answers it
  uint32_t member_hash_kv = 0;  // the member's HashKV at `revision`
  int64_t hash_kv_compact_revision = 0;  // the member's compaction when it answered
  bool compacted_since = false;          // the member compacted after the snapshot
  bool quorum = true;                    // false: taken from a member without leader or quorum
  uint64_t member_raft_index = 0;        // the member's raft index when chosen
  int64_t compact_revision = 0;          // from the file's meta (0: none)
  uint64_t raft_index = 0;               // the file's consistent index
  uint64_t raft_term = 0;                // the member's term when the stream began
  std::string etcd_version;
  uint64_t cluster_id = 0;
  std::vector<client::Member> members;
  client::Member member;  // the one the snapshot came from
  std::string endpoint;
  bool from_leader = false;

  std::vector<std::string> pruned;    // stamps removed by --keep
  std::vector<std::string> warnings;  // also in the manifest
  double seconds = 0, stream_seconds = 0, verify_seconds = 0;
};

// `report` (optional) gets each step's state and time, filled on failure too.
Result<BackupResult> Backup(client::Client& client, const BackupOptions& options,
                            const BackupObserver& observer, const std::atomic<bool>* cancel,
                            ProcedureReport* report = nullptr);

// The manifest (backup_<stamp>.json) as written; `-w json` adds paths and
// run details to it (BackupResultJson).
std::string BackupManifestJson(const BackupResult& r);
std::string BackupResultJson(const BackupResult& r);

// "snapshot_2024-01-02_030405.db" -> "2024-01-02_030405"; "" otherwise.
std::string StampOfSnapshotName(std::string_view name);

}  // namespace cpr::procedures
