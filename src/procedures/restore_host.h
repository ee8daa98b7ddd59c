// restore-quorum and restore-cluster: one master host restored from a
// backup, as seed §3.2 step 1 (quorum loss: the surviving master becomes a
// one-member cluster) and §3.3 (every master back to a previous state, the
// same backup and INITIAL_CLUSTER on each) ask, as one command per host.
//
// Plan (reads only; every refusal happens here, before anything changes):
// the host's etcd manifest names the member; INITIAL_CLUSTER must be well
// formed and name it at its own peer URL; the backup resolves to one pair
// (a backup manifest's pair, or --stamp: never "newest of each kind");
// with --fallback the newest backup that verifies; restore-quorum fences
// (every other member the host knows, from its data dir and the backup, must
// not answer on its peer or client URL, unless --force) and refuses a
// backup of another cluster when the IDs tell (unless --force);
// restore-cluster takes the backup's SHA-256 (--expect-sha256 pins it) and a
// cluster token derived from it and INITIAL_CLUSTER, so every host that
// restores the same backup into the same cluster agrees without talking.
//
// With --from-data-dir (restore-quorum only) the backup is this host's own
// data dir: stop-pods comes first, then snapshot-data-dir (etcd applies
// the WAL on a copy and streams a snapshot, survivor_snapshot.h), then
// restore-db from that snapshot and the rest as below.
//
// Steps (RestoreHostSteps):
//   restore-db        the backup restored natively (etcd/restore.h: verified
//                     while copied, revision bumped and marked compacted by
//                     default) into a staged data dir beside the live one,
//                     while etcd still runs: a bad backup changes nothing
//   stop-pods         etcd, kube-apiserver, kube-controller-manager and
//                     kube-scheduler manifests moved out; waits until gone
//   swap-data-dir     the live data dir moved aside (kept), the staged one
//                     renamed into its place
//   restore-resources the backup's static pod resources put back as one set
//                     (existing revisions of the same names moved aside)
//   start-pods        manifests back: the control-plane pods from the
//                     restored resources where they carry one, etcd's own
//   wait-serving      a linearizable read answers on the member (quorum)
//   report            the member table; old members that knock are named
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/endpoint.h"
#include "etcd/backup_set.h"
#include "host/member_runtime.h"
#include "procedures/steps.h"
#include "util/result.h"

namespace cpr::procedures {

enum class RestoreMode { kQuorum, kCluster };

struct RestoreHostOptions {
  RestoreMode mode = RestoreMode::kQuorum;
  std::string root = "/";
  std::string backup;  // backup folder, legacy tar.gz, or a snapshot file
  std::string stamp;
  std::string initial_cluster;
  bool fallback = false;      // the newest sound backup when the chosen one is not
  bool force = false;         // fencing and other-cluster refusals overridden
  bool bump = true;           // --no-bump: keep the backup's revisions
  std::string expect_sha256;  // restore-cluster: the backup every host restores
  int wait_seconds = 60;
  // restore-quorum --from-data-dir: no backup; the snapshot is taken from
  // this host's own data dir, WAL included (survivor_snapshot.h).
  bool from_data_dir = false;
  std::string etcd_binary;       // --from-data-dir: "" is etcd in PATH
  bool again = false;            // run although the same restore already finished here
  host::RuntimeOptions runtime;  // --runtime, --pid-file
  std::function<void(const std::string&)> out;  // progress lines
};

struct FencedMember {
  std::string name, url;
  bool answers = false;
};

struct RestoreHostPlan {
  std::string name, peer_url, client_url, data_dir;
  // The data dir is a mount point or a symlink (a disk of its own): a rename
  // of it would cross filesystems or move the link, so its member/ is
  // swapped inside it instead, staged beside it in <data dir>/.cpr-staged.
  bool swap_member = false;
  std::shared_ptr<const host::MemberRuntime> runtime;  // what stops and starts the member
  client::TlsFiles tls;                                // the member's own, from its config
  etcd::BackupSet backup;
  std::string backup_sha256;     // "" when not needed (restore-quorum without a manifest)
  bool backup_verified = false;  // verified in the plan (--fallback)
  std::vector<std::string> skipped_backups;  // --fallback: newer ones that failed
  int64_t backup_revision = 0;
  uint64_t backup_consistent_index = 0;
  uint64_t survivor_consistent_index = 0;
  int64_t bump = 0;
  std::string token;
  std::vector<FencedMember> fenced;  // every URL probed
  std::vector<std::string> notes;
  std::string inputs;  // the journal's fingerprint
};

Result<RestoreHostPlan> PlanRestoreHost(const RestoreHostOptions& options);
std::vector<Step> RestoreHostSteps(const RestoreHostOptions& options, const RestoreHostPlan& plan);
// Plan, then the steps (with the options' out for progress); dry_run lists them.
Result<ProcedureReport> RestoreHost(const RestoreHostOptions& options, bool dry_run,
                                    RestoreHostPlan* plan_out, ProcedureReport* report);

// restore-cluster on several hosts of one machine (`--lab`, `--hosts`): every
// host planned first (a refusal on any host changes none; the backups'
// SHA-256 must agree), then each host's steps on a thread of its own, so the
// members start together and form quorum.
struct ClusterHostRun {
  std::string root;
  RestoreHostPlan plan;
  ProcedureReport report;
  Result<void> result;
};
Result<std::vector<ClusterHostRun>> RestoreClusterHosts(const RestoreHostOptions& options,
                                                        const std::vector<std::string>& roots,
                                                        bool dry_run);

}  // namespace cpr::procedures
