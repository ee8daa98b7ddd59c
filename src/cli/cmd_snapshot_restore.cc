// `cpr snapshot restore SOURCE`: a snapshot (or backup) into a member data
// dir, with etcdctl 3.4's flags and defaults (etcd-formats.md §5.1) plus the
// Kubernetes-safe options etcdutl added later. Flags -> RestoreConfig ->
// PlanRestore (printed with --dry-run) -> RunRestore.
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "etcd/restore.h"
#include "etcd/revision.h"

namespace cpr::cli {
namespace {

struct RestoreFlags {
  etcd::RestoreConfig config;
  std::string to_time;  // --to-time: refused (see the flag's help)
  bool dry_run = false;
  std::string format = "table";
};

Json PlanJson(const etcd::RestorePlan& p) {
  Json members = Json::array();
  for (const auto& m : p.membership.members)
    members.push_back(
        {{"name", m.name}, {"id", fmt::format("{:x}", m.id)}, {"peerURLs", m.peer_urls}});
  return Json{{"source", p.source.snapshot},
              {"sourceKind", p.source.KindName()},
              {"dataDir", p.data_dir},
              {"walDir", p.wal_dir},
              {"name", p.membership.me().name},
              {"memberID", fmt::format("{:x}", p.membership.me().id)},
              {"clusterID", fmt::format("{:x}", p.membership.cluster_id)},
              {"members", members},
              {"revision", p.revision},
              {"newRevision", p.new_revision},
              {"toRevision", p.to_revision},
              {"warnings", p.warnings},
              {"steps", p.Steps()},
              {"etcd", p.EtcdCommand()}};
}

Result<void> Run(const RestoreFlags& f) {
  Format format;
  if (!ParseFormat(f.format, &format) || format == Format::kRaw)
    return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + f.format + "'",
                     "use table, json or yaml");
  if (!f.to_time.empty())
    return MakeError(
        Code::kInvalidArgument, "--to-time",
        "etcd 3.4 records no time with a revision, so a time cannot be told apart from its "
        "neighbours in a snapshot",
        "find the revision with `cpr snapshot history FILE KEY` (mod revisions of the key "
        "changed by accident) or `cpr snapshot diff --rev`, then pass --to-revision R");
  const etcd::RestorePlan plan = CPR_TRY(etcd::PlanRestore(f.config));
  for (const auto& w : plan.warnings) std::cerr << "warning: " << w << '\n';
  if (f.dry_run) {
    if (format == Format::kTable) {
      std::cout << "restore plan (--dry-run: nothing is written):\n";
      for (const auto& s : plan.Steps()) std::cout << "  - " << s << '\n';
      std::cout << "then start the member with:\n  " << plan.EtcdCommand() << '\n';
    } else {
      Json j = PlanJson(plan);
      j["dryRun"] = true;
      format == Format::kJson ? PrintJson(std::cout, j) : PrintYaml(std::cout, j);
    }
    return {};
  }
  const etcd::RestoreResult r = CPR_TRY(etcd::RunRestore(f.config, plan));
  if (!r.missing_leases.empty()) {
    std::string ids;
    for (int64_t id : r.missing_leases) ids += fmt::format("{}{:x}", ids.empty() ? "" : ", ", id);
    std::cerr << fmt::format(
        "warning: keys alive at revision {} name {} lease(s) the snapshot no longer holds "
        "(revoked or expired since): {}. They come back without a lease and never expire; "
        "delete or re-lease them if they should\n",
        plan.to_revision, r.missing_leases.size(), ids);
  }
  if (format == Format::kTable) {
    if (!r.moved_member_to.empty())
      std::cout << "moved the existing member aside to " << r.moved_member_to << '\n';
    if (!r.moved_wal_to.empty())
      std::cout << "moved the existing WAL dir aside to " << r.moved_wal_to << '\n';
    for (const auto& s : r.step_times) std::cout << "[restore] " << s << '\n';
    if (r.repaired > 0) {
      std::cout << fmt::format("repaired {} derivable faults of the source (--repair):\n",
                               r.repaired);
      for (const auto& s : r.repairs) std::cout << "  " << s << '\n';
      if (r.repaired > r.repairs.size())
        std::cout << fmt::format("  ... and {} more\n", r.repaired - r.repairs.size());
    }
    std::cout << fmt::format("restored {} as member {} ({:x}) of cluster {:x}: {} keys, db {}\n",
                             plan.data_dir, plan.membership.me().name, plan.membership.me().id,
                             plan.membership.cluster_id, r.keys, r.db_bytes);
    if (r.after_revision > 0)
      std::cout << fmt::format("as at revision {}: {} newer key revisions left out\n",
                               plan.to_revision, r.after_revision);
    if (r.compacted_away > 0)
      std::cout << fmt::format("compacted at revision {}: {} older key revisions left out\n",
                               plan.new_revision, r.compacted_away);
    std::cout << "start it with:\n  " << plan.EtcdCommand() << '\n';
  } else {
    Json j = PlanJson(plan);
    j["dryRun"] = false;
    j["dbBytes"] = r.db_bytes;
    j["keys"] = r.keys;
    j["compactedAway"] = r.compacted_away;
    j["afterRevisionLeftOut"] = r.after_revision;
    j["missingLeases"] = r.missing_leases;
    j["movedMemberTo"] = r.moved_member_to;
    j["repaired"] = r.repaired;
    j["repairs"] = r.repairs;
    j["timings"] = r.step_times;
    format == Format::kJson ? PrintJson(std::cout, j) : PrintYaml(std::cout, j);
  }
  return {};
}

}  // namespace

void AddSnapshotRestore(CLI::App& snapshot, RunState& state) {
  static RestoreFlags f;
  etcd::RestoreConfig& c = f.config;
  auto* cmd = snapshot.add_subcommand(
      "restore",
      "Restore a snapshot or backup into a new member data dir that etcd 3.4 boots "
      "(same IDs and WAL as etcdctl snapshot restore; verified first; crash-safe)");
  cmd->add_option("source", c.source,
                  "Snapshot file, a db copied from a data dir (needs --skip-hash-check), a backup "
                  "folder (snapshot_<stamp>.db + static_kuberesources_<stamp>.tar.gz), or a legacy "
                  "snapshot_db_kuberesources_<stamp>.tar.gz")
      ->required();
  cmd->add_option("--name", c.name, "Human-readable name for this member")->capture_default_str();
  cmd->add_option("--initial-cluster", c.initial_cluster,
                  "Initial cluster configuration for restore bootstrap (default "
                  "default=http://localhost:2380)");
  cmd->add_option("--initial-cluster-token", c.token, "Initial cluster token for the etcd cluster")
      ->capture_default_str();
  cmd->add_option("--initial-advertise-peer-urls", c.advertise_peer_urls,
                  "List of this member's peer URLs to advertise to the rest of the cluster")
      ->capture_default_str();
  cmd->add_option("--data-dir", c.data_dir, "Path to the data directory (default <name>.etcd)");
  cmd->add_option("--wal-dir", c.wal_dir,
                  "Path to the WAL directory (default <data-dir>/member/wal)");
  cmd->add_option("--stamp", c.stamp,
                  "With a backup folder: the backup to restore (default: newest)");
  cmd->add_flag("--skip-hash-check", c.skip_hash_check,
                "Ignore the snapshot's SHA-256 trailer (required for a db copied from a data dir)");
  StrictInt(cmd->add_option("--bump-revision", c.bump_revision,
                            "Start the member at the snapshot's newest revision + N, so revisions "
                            "never go backwards for clients that saw newer ones"),
            0, etcd::kMaxRevision, "etcd's revisions must keep room to count up");
  cmd->add_flag("--repair", c.repair,
                "Restore a source whose only faults are derivable (a bad freelist, unreferenced "
                "pages, a missing members/cluster/alarm bucket): the new db rebuilds them and "
                "the restore lists what it repaired. Faults in the records still refuse");
  StrictInt(cmd->add_option("--to-revision", c.to_revision,
                            "Point in time: build the member as it was at revision R (from the "
                            "snapshot's compacted revision to its newest), e.g. just before a "
                            "delete made by accident; with --bump-revision the new revisions "
                            "still start past the snapshot's newest"),
            1, etcd::kMaxRevision, "find R with `cpr snapshot history` or `snapshot diff --rev`");
  cmd->add_option("--to-time", f.to_time,
                  "Refused: etcd records no time with its revisions; use --to-revision");
  cmd->add_flag("--mark-compacted", c.mark_compacted,
                "Record the bumped revision as compacted, so every watch from an older revision "
                "fails with 'compacted' and clients relist (requires --bump-revision). Only what "
                "etcd keeps after that compaction is written (the newest revision of each live "
                "key): a smaller db that etcd boots faster, answering every read the same");
  cmd->add_flag(
      "--move-aside", c.move_aside,
      "Move an existing member (and --wal-dir) aside into a timestamped folder instead of "
      "refusing");
  cmd->add_flag("--clear-alarms", c.clear_alarms,
                "Drop alarms (e.g. NOSPACE) stored in the snapshot");
  cmd->add_option(
      "--owner", c.owner,
      "USER[:GROUP] to own what is written (default: the owner of an existing data dir)");
  cmd->add_flag("--dry-run", f.dry_run, "Print what would be written (IDs, paths, sizes) and stop");
  AddWriteOut(cmd, &f.format, "Output format: table, json or yaml");
  cmd->callback([&state] {
    auto r = Run(f);
    if (!r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
