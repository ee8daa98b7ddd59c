#include "procedures/restore_host.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "client/client.h"
#include "etcd/backend.h"
#include "etcd/membership.h"
#include "etcd/restore.h"
#include "etcd/verify.h"
#include "host/host.h"
#include "host/member_runtime.h"
#include "host/probe.h"
#include "host/static_pods.h"
#include "procedures/serving.h"
#include "procedures/static_pod_resources.h"
#include "procedures/survivor_snapshot.h"
#include "util/atomic_file.h"
#include "util/hash.h"
#include "util/text.h"

namespace cpr::procedures {
namespace {

// With no way to tell how far the lost cluster got past the backup, a bump
// of a billion revisions outruns any client's cache (etcdutl's advice).
constexpr int64_t kDefaultBump = 1'000'000'000;

bool Exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

Result<void> Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return MakeError(Code::kIo, from, "cannot move to " + to + ": " + std::strerror(errno));
  CPR_RETURN_IF_ERROR(FsyncDir(DirName(to)));
  return DirName(to) == DirName(from) ? Result<void>() : FsyncDir(DirName(from));
}

// rm -rf, only for CPR's own staged data dir (a copy it made).
void RemoveStaged(const std::string& path) {
  if (!path.ends_with(".cpr-staged")) return;
  auto rm = [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); };
  ::nftw(path.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS);
}

// CPR's own staging for the static pod resources (a killed run's goes:
// never a user's folder).
std::string ResourcesStaging(const host::Host& h) {
  return h.Path("etc/kubernetes/resources.cpr-staged");
}

// The archive extracted into `staging` (emptied first) and made durable;
// its top-level folders.
Result<std::vector<std::string>> StageResources(const std::string& tar_gz,
                                                const std::string& staging) {
  RemoveStaged(staging);
  CPR_RETURN_IF_ERROR(MakeDirs(DirName(staging), 0755));
  auto tops = CPR_TRY(ExtractResourcesTarGz(tar_gz, staging));
  const int fd = ::open(staging.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::syncfs(fd);  // every extracted file durable before it is renamed into place
    ::close(fd);
  }
  return tops;
}

// The procedure's journal as the runtime sees it: the step's own, or (in
// the plan, reading only) the facts an interrupted run left.
host::RuntimeJournal StepJournal(StepContext& ctx) {
  return {[&ctx](const std::string& k) { return ctx.Get(k); },
          [&ctx](const std::string& k, std::string v) { ctx.Set(k, std::move(v)); },
          [&ctx] { return ctx.Save(); }};
}
host::RuntimeJournal FactsJournal(std::map<std::string, std::string> facts) {
  return {[facts](const std::string& k) {
            auto it = facts.find(k);
            return it == facts.end() ? std::string() : it->second;
          },
          [](const std::string&, std::string) {}, [] { return Result<void>(); }};
}

std::string ProcedureName(RestoreMode mode) {
  return mode == RestoreMode::kQuorum ? "restore-quorum" : "restore-cluster";
}

// Backups in a folder, newest first, by the stamp of their .db.
std::vector<std::string> StampsNewestFirst(const std::string& dir) {
  std::vector<std::string> stamps;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind("snapshot_", 0) == 0 && n.ends_with(".db"))
        stamps.push_back(n.substr(9, n.size() - 12));
    }
    ::closedir(d);
  }
  std::sort(stamps.rbegin(), stamps.rend());
  return stamps;
}

bool IsDir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The backup to restore: the pair named, or with --fallback the newest that
// verifies (saying which were skipped and why).
Result<void> ChooseBackup(const RestoreHostOptions& o, RestoreHostPlan& p) {
  auto resolved = etcd::ResolveBackupSource(o.backup, o.stamp);
  if (!o.fallback) {
    p.backup = CPR_TRY(std::move(resolved));
    return {};
  }
  // The chosen backup first (--stamp, or the newest), then older ones.
  std::vector<std::string> stamps =
      IsDir(o.backup) ? StampsNewestFirst(o.backup) : std::vector<std::string>{o.stamp};
  if (IsDir(o.backup) && !o.stamp.empty())
    std::erase_if(stamps, [&](const std::string& s) { return s > o.stamp; });
  for (const auto& stamp : stamps) {
    auto set = etcd::ResolveBackupSource(o.backup, stamp);
    if (!set) {
      p.skipped_backups.push_back(stamp + ": " + set.error().what);
      continue;
    }
    if (set->kind == etcd::BackupSet::Kind::kLegacyTar) {
      p.backup = *set;  // verified as it is extracted
      return {};
    }
    etcd::VerifyOptions vo;
    vo.skip_hash_check = false;
    auto report = etcd::Verify(set->snapshot, vo);
    if (report && report->ok()) {
      p.backup = *set;
      p.backup_verified = true;
      return {};
    }
    p.skipped_backups.push_back(
        fmt::format("{}: {}", stamp,
                    !report ? report.error().what
                            : fmt::format("{} faults, first: {}", report->fault_count,
                                          report->faults.empty() ? "" : report->faults[0].what)));
  }
  return MakeError(Code::kFailedPrecondition, o.backup,
                   "no backup here verifies: " + JoinList(p.skipped_backups, "; "),
                   "restore from another backup folder");
}

// Where snapshot-data-dir writes the survivor's snapshot, and its scratch.
std::string FromDataDirWork(const host::Host& h) { return h.state() + "/from-data-dir"; }
std::string FromDataDirSnapshot(const host::Host& h) { return FromDataDirWork(h) + "/snapshot.db"; }

// Members this host knows of, from a db (its own data dir, the backup);
// false when the db cannot be read.
bool KnownMembers(const std::string& db, std::vector<etcd::Member>& out) {
  auto be = etcd::Backend::Open(db);
  if (!be) return false;
  auto ms = (*be)->Members();
  if (!ms) return false;
  for (auto& m : *ms) out.push_back(std::move(m));
  return true;
}

uint64_t ConsistentIndex(const std::string& db) {
  auto be = etcd::Backend::Open(db);
  if (!be) return 0;
  auto meta = (*be)->Meta();
  return meta && meta->consistent_index ? *meta->consistent_index : 0;
}

}  // namespace

Result<RestoreHostPlan> PlanRestoreHost(const RestoreHostOptions& o) {
  RestoreHostPlan p;
  const host::Host h(o.root == "/" ? "" : o.root);
  // 1. The member this host runs, from its runtime's own configuration.
  p.runtime = CPR_TRY(host::OpenRuntime(h, o.runtime));
  const host::MemberConfig member = CPR_TRY(
      p.runtime->Config(FactsJournal(UnfinishedJournalFacts(h.state(), ProcedureName(o.mode)))));
  p.name = member.name;
  p.peer_url = member.peer_url;
  p.client_url = member.client_url;
  p.tls = {member.trusted_ca_file, member.cert_file, member.key_file};
  p.data_dir = member.data_dir;
  while (p.data_dir.size() > 1 && p.data_dir.back() == '/') p.data_dir.pop_back();
  // The data dir is moved aside whole and the staged one renamed into its
  // place when it is a plain directory on its parent's filesystem; a mount
  // point or a symlink keeps its place and its member/ is swapped inside.
  {
    struct stat st {
    }, parent{};
    if (::lstat(p.data_dir.c_str(), &st) == 0 &&
        (S_ISLNK(st.st_mode) ||
         (::stat(DirName(p.data_dir).c_str(), &parent) == 0 && parent.st_dev != st.st_dev))) {
      p.swap_member = true;
      p.notes.push_back(
          fmt::format("{} is a {}: its member/ is swapped inside it (the old one kept beside it)",
                      p.data_dir, S_ISLNK(st.st_mode) ? "symlink" : "mount point"));
    }
  }
  if (p.name.empty() || p.peer_url.empty() || p.client_url.empty())
    return MakeError(Code::kFailedPrecondition, member.source,
                     "the etcd config has no name, initial advertise peer URL or advertise "
                     "client URL",
                     "restore this host by hand (cpr snapshot restore)");
  // 2. INITIAL_CLUSTER: well formed, naming this member at its own peer URL.
  auto probe_membership = etcd::ComputeMembership(o.initial_cluster, "probe", p.name, p.peer_url);
  if (!probe_membership) {
    Error e = probe_membership.error();
    e.where = "INITIAL_CLUSTER";
    e.hint = fmt::format("it must name this host's member {} at {} (from {})", p.name, p.peer_url,
                         member.source);
    return e;
  }
  if (o.mode == RestoreMode::kQuorum && probe_membership->members.size() != 1)
    p.notes.push_back(fmt::format(
        "INITIAL_CLUSTER names {} members: restore-quorum starts a {}-member cluster that waits "
        "for the others (seed §3.2 restores one member, then grows it)",
        probe_membership->members.size(), probe_membership->members.size()));
  // 3. The backup (--from-data-dir: the snapshot this host's own data dir
  // will give, written into its state dir by snapshot-data-dir).
  if (o.from_data_dir) {
    if (o.mode != RestoreMode::kQuorum || !o.backup.empty())
      return MakeError(Code::kInvalidArgument, "--from-data-dir",
                       "restore-quorum --from-data-dir takes no backup: the survivor's own data "
                       "dir is the source");
    if (!Exists(p.data_dir + "/member/snap/db"))
      return MakeError(Code::kFailedPrecondition, p.data_dir,
                       "no member/snap/db here: nothing to restore quorum from",
                       "`cpr survey` names the host with the most recent state");
    (void)CPR_TRY(FindEtcdBinary(o.etcd_binary));  // before the member is stopped
    p.backup.kind = etcd::BackupSet::Kind::kFile;
    p.backup.snapshot = FromDataDirSnapshot(h);
  } else {
    CPR_RETURN_IF_ERROR(ChooseBackup(o, p));
  }
  if (o.mode == RestoreMode::kCluster || !o.expect_sha256.empty()) {
    p.backup_sha256 = !p.backup.snapshot_sha256.empty()
                          ? p.backup.snapshot_sha256
                          : CPR_TRY(etcd::FileSha256(p.backup.snapshot));
    if (!o.expect_sha256.empty() && p.backup_sha256 != o.expect_sha256)
      return MakeError(
          Code::kFailedPrecondition, p.backup.snapshot,
          fmt::format("SHA-256 {} is not the expected {}", p.backup_sha256, o.expect_sha256),
          "every master must restore the same backup: copy that one here");
  }
  const bool legacy = p.backup.kind == etcd::BackupSet::Kind::kLegacyTar || o.from_data_dir;
  std::vector<etcd::Member> backup_members, own_members;
  if (!legacy) {
    auto be = CPR_TRY(etcd::Backend::Open(p.backup.snapshot));
    p.backup_revision = CPR_TRY(be->LatestRevision()).main;
    auto meta = CPR_TRY(be->Meta());
    p.backup_consistent_index = meta.consistent_index.value_or(0);
    KnownMembers(p.backup.snapshot, backup_members);
  }
  const std::string own_db = p.data_dir + "/member/snap/db";
  if (Exists(own_db) && !KnownMembers(own_db, own_members) && !o.force &&
      o.mode == RestoreMode::kQuorum)
    return MakeError(Code::kFailedPrecondition, own_db,
                     "cannot read this host's members from its own db: fencing would not know "
                     "whom to probe",
                     "--force restores without fencing those members");
  p.survivor_consistent_index = ConsistentIndex(own_db);
  // 4. Another cluster's backup: no member ID in common with this host's own.
  // (Not on a resumed run: the data dir then holds the restored member, whose
  // IDs are new by design.)
  const bool resuming = Exists(h.state() + "/journal/restore-quorum.json");
  if (o.mode == RestoreMode::kQuorum && !backup_members.empty() && !own_members.empty() &&
      !o.force && !resuming) {
    bool common = false;
    for (const auto& a : backup_members)
      for (const auto& b : own_members) common = common || a.id == b.id;
    if (!common)
      return MakeError(Code::kFailedPrecondition, p.backup.snapshot,
                       "the backup's members share no ID with this host's data dir: a backup of "
                       "another cluster?",
                       "check the backup; --force restores it anyway");
  }
  // 5. The revision bump: past every revision the lost cluster can have
  // made since the backup (each one took a raft entry).
  // restore-cluster: every member must start from the same state, so the
  // bump comes from the backup alone (the same on every host).
  if (o.bump) {
    p.bump = kDefaultBump;
    if (o.mode == RestoreMode::kQuorum && p.survivor_consistent_index > p.backup_consistent_index &&
        p.backup_consistent_index > 0)
      p.bump = std::min<int64_t>(kDefaultBump,
                                 1'000'000 + 2 * static_cast<int64_t>(p.survivor_consistent_index -
                                                                      p.backup_consistent_index));
  }
  // 6. The cluster token: fresh for quorum; for restore-cluster derived, so
  // every host restoring this backup into this INITIAL_CLUSTER agrees.
  if (o.mode == RestoreMode::kCluster) {
    Sha256 sha;
    sha.Update(p.backup_sha256);
    sha.Update(o.initial_cluster);
    const Sha256Digest d = sha.Finish();
    p.token = "cpr-" + HexOf(Bytes(reinterpret_cast<const char*>(d.data()), 8));
  } else {
    std::random_device rd;
    p.token = fmt::format("cpr-{}-{:08x}", LocalStamp(), rd());
  }
  // 7. Fencing (restore-quorum): every other member must be down.
  if (o.mode == RestoreMode::kQuorum) {
    std::vector<host::Probe> probes;
    std::set<std::string> seen;
    for (const auto* list : {&own_members, &backup_members})
      for (const auto& m : *list) {
        if (m.name == p.name) continue;
        for (const auto* urls : {&m.peer_urls, &m.client_urls})
          for (const auto& u : *urls)
            if (u != p.peer_url && u != p.client_url && seen.insert(u).second)
              probes.push_back({m.name.empty() ? fmt::format("{:x}", m.id) : m.name, u, false});
      }
    std::vector<std::string> alive;
    for (const auto& pr : host::ProbeAll(probes, 300)) {
      std::string h;
      int port = 0;
      // A name is not resolved (a probe must not wait on DNS): unknown is
      // not "down", so it refuses like a member that answers.
      const bool numeric = host::SplitUrl(pr.url, &h, &port) &&
                           h.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos;
      p.fenced.push_back({pr.who, pr.url, pr.answers || !numeric});
      if ((pr.answers || !numeric) && std::find(alive.begin(), alive.end(), pr.who) == alive.end())
        alive.push_back(pr.who);
    }
    if (!alive.empty() && !o.force) {
      std::string urls;
      for (const auto& f : p.fenced)
        if (f.answers) urls += (urls.empty() ? "" : ", ") + f.url;
      return MakeError(
          Code::kFailedPrecondition, "fencing",
          fmt::format("old member(s) {} still answer or cannot be probed ({}): restoring quorum "
                      "here would split the cluster (\"request cluster ID mismatch\")",
                      JoinList(alive, ", "), urls),
          "stop etcd on those hosts (or power them off), or pass --force if they are fenced "
          "otherwise");
    }
  }
  // What a resume must match: the backup (by content when its SHA-256 is
  // known, else by path, size and modification time) and INITIAL_CLUSTER.
  {
    char real[PATH_MAX];
    const std::string path =
        ::realpath(p.backup.snapshot.c_str(), real) != nullptr ? real : p.backup.snapshot;
    std::string id = p.backup_sha256.empty() ? p.backup.snapshot_sha256 : p.backup_sha256;
    if (o.from_data_dir) id = "from-data-dir " + p.data_dir;
    if (id.empty()) {
      struct stat st {};
      ::stat(p.backup.snapshot.c_str(), &st);
      id = fmt::format("size {} mtime {}", st.st_size, st.st_mtime);
    }
    p.inputs =
        fmt::format("{} {} {} {} runtime {}", o.mode == RestoreMode::kQuorum ? "quorum" : "cluster",
                    path, id, o.initial_cluster, p.runtime->kind());
  }
  return p;
}

namespace {

// The backup's static pod resources belong to a kubelet's control plane:
// restored only where the member is a static pod.
bool HasResourcesStep(const RestoreHostPlan& p) {
  return !p.backup.resources.empty() && p.runtime->kind() == "static-pod";
}

// restore-resources' control-plane manifests replace the ones stop-pods
// moved out (those kept aside): each written first, so a kill between the
// two leaves both and a re-run only finishes the move; the runtime's Start
// then finds it in place.
Result<void> StartRestoredManifests(const host::Host& h, StepContext& ctx) {
  std::map<std::string, std::string> restored;
  for (const auto& kv : SplitList(ctx.Get("resource_manifests"), ',')) {
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) restored[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  const std::string stamp = LocalStamp();
  for (const auto& file : SplitList(ctx.Get("stopped"), ',')) {
    auto it = restored.find(file);
    if (it == restored.end()) continue;
    const std::string stopped = h.stopped_manifests() + "/" + file;
    const std::string text = CPR_TRY(ReadFileLimited(it->second, 1 << 20));
    CPR_RETURN_IF_ERROR(WriteFileAtomic(h.manifests() + "/" + file, text, 0600));
    if (Exists(stopped)) CPR_RETURN_IF_ERROR(Rename(stopped, MoveAsideName(stopped, stamp)));
  }
  return {};
}

}  // namespace

std::vector<Step> RestoreHostSteps(const RestoreHostOptions& o, const RestoreHostPlan& p) {
  const host::Host h(o.root == "/" ? "" : o.root);
  // Where the restored member is made, and what is swapped: the data dir,
  // or (swap_member) its member/ with a data dir staged inside it.
  const std::string staged =
      p.swap_member ? p.data_dir + "/.cpr-staged" : p.data_dir + ".cpr-staged";
  const std::string live = p.swap_member ? p.data_dir + "/member" : p.data_dir;
  const std::string incoming = p.swap_member ? staged + "/member" : staged;
  std::vector<Step> steps;

  Step snapshot_step{
      "snapshot-data-dir",
      fmt::format("copy {} and run etcd once on the copy (--force-new-cluster, 127.0.0.1 only, "
                  "this member's certificates) to apply its WAL; stream its snapshot to {}",
                  p.data_dir, p.backup.snapshot),
      [o, p, h](StepContext& ctx) -> Result<void> {
        if (ctx.Get("snapshot") == "yes" && Exists(p.backup.snapshot)) return {};
        if (host::DataDirLocked(p.data_dir))
          return MakeError(Code::kFailedPrecondition, p.data_dir, "etcd still holds the data dir",
                           "stop etcd on this host");
        SurvivorSnapshotOptions so;
        so.data_dir = p.data_dir;
        so.name = p.name;
        so.work_dir = FromDataDirWork(h);
        so.out = p.backup.snapshot;
        so.etcd_binary = o.etcd_binary;
        so.tls = p.tls;
        so.wait = std::chrono::seconds(o.wait_seconds);
        so.say = [&ctx](const std::string& line) { ctx.Say(line); };
        CPR_RETURN_IF_ERROR(MakeDirs(so.work_dir, 0700));
        (void)CPR_TRY(SnapshotDataDir(so));
        ctx.Set("snapshot", "yes");
        return {};
      }};

  steps.push_back(
      {"restore-db",
       fmt::format(
           "restore {} ({}) natively into {} as member {} of a new cluster (token {}){}",
           p.backup.snapshot, p.backup.KindName(), staged, p.name, p.token,
           p.bump > 0 ? fmt::format(", revisions bumped by {} and marked compacted", p.bump) : ""),
       [o, p, staged, h](StepContext& ctx) -> Result<void> {
         if (ctx.Get("staged") == "yes" || (ctx.Get("swapped") == "yes")) return {};
         if (Exists(staged)) RemoveStaged(staged);  // a killed run's: CPR's own copy
         etcd::RestoreConfig c;
         c.source = p.backup.kind == etcd::BackupSet::Kind::kFile ? p.backup.snapshot : o.backup;
         c.stamp = p.backup.stamp;
         c.name = p.name;
         c.initial_cluster = o.initial_cluster;
         c.token = p.token;
         c.advertise_peer_urls = p.peer_url;
         c.data_dir = staged;
         c.bump_revision = p.bump;
         c.mark_compacted = p.bump > 0;
         const etcd::RestorePlan plan = CPR_TRY(etcd::PlanRestore(c));
         auto restored = etcd::RunRestore(c, plan);
         if (!restored) {
           Error e = restored.error();
           if (e.code == Code::kCorrupt)
             e.hint =
                 "nothing on this host changed; --fallback takes the newest backup that "
                 "verifies";
           return e;
         }
         const etcd::RestoreResult& r = *restored;
         ctx.Say(fmt::format("{} keys, db {} bytes, revision {} -> {}", r.keys, r.db_bytes,
                             plan.revision, plan.new_revision));
         // The static pod resources too: a damaged archive refuses here,
         // while nothing on the host has changed yet.
         if (!p.backup.resources.empty()) {
           const auto tops = CPR_TRY(StageResources(p.backup.resources, ResourcesStaging(h)));
           ctx.Set("resource_tops", JoinList(tops, ","));
           ctx.Say(
               fmt::format("static pod resources checked and staged: {}", JoinList(tops, ", ")));
         }
         ctx.Set("staged", "yes");
         return {};
       }});

  Step stop_step{"stop-" + p.runtime->subject(), p.runtime->StopSummary(),
                 [p](StepContext& ctx) -> Result<void> {
                   host::RuntimeJournal j = StepJournal(ctx);
                   // 100 ms is a healthy member's graceful exit with room to spare; a
                   // member without quorum would wait seconds on SIGTERM, and its data
                   // dir, crash-safe, is moved aside next: it is killed then.
                   return p.runtime->Stop(
                       j, {std::chrono::seconds(60), std::chrono::milliseconds(100)},
                       [&ctx](const std::string& line) { ctx.Say(line); });
                 }};
  if (o.from_data_dir) {
    // The survivor's own state: stopped, then snapshotted, then restored.
    steps.insert(steps.begin(), {stop_step, snapshot_step});
  } else {
    steps.push_back(stop_step);
  }

  steps.push_back(
      {"swap-data-dir",
       fmt::format("move {} aside (kept, never deleted) and rename the restored member into its "
                   "place",
                   live),
       [p, staged, live, incoming](StepContext& ctx) -> Result<void> {
         if (ctx.Get("swapped") == "yes") return {};
         if (host::DataDirLocked(p.data_dir))
           return MakeError(Code::kFailedPrecondition, p.data_dir, "etcd still holds the data dir",
                            "stop etcd on this host");
         // The aside name is journaled before the rename, so a kill between
         // the two still names where the old data went.
         std::string aside = ctx.Get("moved_data_dir");
         if (aside.empty() && Exists(live) && Exists(incoming)) {
           aside = MoveAsideName(live, LocalStamp());
           ctx.Set("moved_data_dir", aside);
           CPR_RETURN_IF_ERROR(ctx.Save());
         }
         if (!aside.empty() && !Exists(aside) && Exists(live) && Exists(incoming)) {
           CPR_RETURN_IF_ERROR(Rename(live, aside));
           ctx.Say("the old " + std::string(p.swap_member ? "member" : "data dir") +
                   " is kept at " + aside);
         }
         if (Exists(incoming)) {
           if (Exists(live))
             return MakeError(Code::kFailedPrecondition, live,
                              "a data dir appeared while the restore ran",
                              "move it aside by hand and run again");
           CPR_RETURN_IF_ERROR(Rename(incoming, live));
         } else if (!Exists(p.data_dir + "/member")) {
           return MakeError(Code::kInternal, staged, "the restored member is gone",
                            "move the journal aside and run again");
         }
         if (p.swap_member) ::rmdir(staged.c_str());  // emptied: only CPR's own folder
         ctx.Set("swapped", "yes");
         return {};
       }});

  if (HasResourcesStep(p))
    steps.push_back(
        {"restore-resources",
         fmt::format("put back the static pod resources of {} into {} as one set (revisions of "
                     "the same names moved aside)",
                     p.backup.resources, h.resources()),
         [h, p](StepContext& ctx) -> Result<void> {
           if (ctx.Get("resources") == "yes") return {};
           // Extracted (and so checked) by restore-db, before anything
           // changed; again only when a kill took the staging away.
           const std::string staging = ResourcesStaging(h);
           std::vector<std::string> tops = SplitList(ctx.Get("resource_tops"), ',');
           std::vector<std::string> placed = SplitList(ctx.Get("resources_placed"), ',');
           bool missing = false;
           for (const auto& t : tops)
             missing = missing || (std::find(placed.begin(), placed.end(), t) == placed.end() &&
                                   !Exists(staging + "/" + t));
           if (tops.empty() || missing) tops = CPR_TRY(StageResources(p.backup.resources, staging));
           CPR_RETURN_IF_ERROR(MakeDirs(h.resources(), 0755));
           // Revisions of the same names move aside together, out of the
           // folder (a later backup must not take them for live revisions).
           const std::string aside = MoveAsideName(h.resources(), LocalStamp());
           std::vector<std::string> manifests;
           // Each folder put in place is journaled at once: a re-run after a
           // kill neither moves a restored folder aside nor puts it back twice.
           for (const auto& top : tops) {
             const std::string dest = h.resources() + "/" + top;
             if (std::find(placed.begin(), placed.end(), top) == placed.end()) {
               if (Exists(dest)) {
                 CPR_RETURN_IF_ERROR(MakeDirs(aside, 0700));
                 CPR_RETURN_IF_ERROR(Rename(dest, aside + "/" + top));
               }
               CPR_RETURN_IF_ERROR(Rename(staging + "/" + top, dest));
               placed.push_back(top);
               ctx.Set("resources_placed", JoinList(placed, ","));
               CPR_RETURN_IF_ERROR(ctx.Save());
             }
             // <component>-pod-<N>/<component>-pod.yaml: the manifest of that revision.
             const size_t pod = top.rfind("-pod-");
             if (pod != std::string::npos) {
               const std::string file = top.substr(0, pod) + "-pod.yaml";
               if (Exists(dest + "/" + file)) manifests.push_back(file + "=" + dest + "/" + file);
             }
           }
           RemoveStaged(staging);  // what a re-run extracted again and did not need
           ctx.Set("resource_manifests", JoinList(manifests, ","));
           ctx.Set("resources", "yes");
           ctx.Say(
               fmt::format("{} resource folders restored: {}", tops.size(), JoinList(tops, ", ")));
           return {};
         }});

  steps.push_back(
      {"start-" + p.runtime->subject(),
       p.runtime->StartSummary() +
           (HasResourcesStep(p) ? "; the control plane from the restored resources' manifests "
                                  "where they carry one"
                                : ""),
       [h, p](StepContext& ctx) -> Result<void> {
         CPR_RETURN_IF_ERROR(StartRestoredManifests(h, ctx));
         host::RuntimeJournal j = StepJournal(ctx);
         return p.runtime->Start(j, [&ctx](const std::string& line) { ctx.Say(line); });
       }});

  steps.push_back(
      {"wait-serving",
       fmt::format(
           "wait (at most {} s) until {} answers a linearizable read{}", o.wait_seconds,
           p.client_url,
           o.mode == RestoreMode::kCluster ? " (once a quorum of members has started)" : ""),
       [h, p, o](StepContext& ctx) -> Result<void> {
         const double s = CPR_TRY(
             WaitLinearizableRead(p.client_url, p.tls, std::chrono::seconds(o.wait_seconds)));
         ctx.Say(fmt::format("serving after {:.2f}s", s));
         return {};
       }});

  steps.push_back({"report", "print the member table; name old members that try to reach this one",
                   [h, p](StepContext& ctx) -> Result<void> {
                     client::Config cfg;
                     cfg.endpoints = CPR_TRY(client::ParseEndpoints(p.client_url, "endpoint"));
                     cfg.tls = p.tls;
                     auto c = CPR_TRY(client::Client::Create(cfg));
                     const auto members = CPR_TRY(c->MemberList());
                     for (const auto& m : members.members)
                       ctx.Say(fmt::format("member {:x} {} peer {} client {}{}", m.id, m.name,
                                           JoinList(m.peer_urls, ","), JoinList(m.client_urls, ","),
                                           m.is_learner ? " (learner)" : ""));
                     // Where CPR can read etcd's output (the lab's runner, the process
                     // runtime), old members knocking show as cluster ID mismatches.
                     std::ifstream log(p.runtime->LogFile());
                     std::string line;
                     int knocks = 0;
                     while (std::getline(log, line))
                       if (line.find("cluster ID mismatch") != std::string::npos ||
                           line.find("mismatch cluster") != std::string::npos)
                         knocks++;
                     if (knocks > 0)
                       ctx.Say(fmt::format(
                           "{} log lines of peers from another cluster knocking (cluster ID "
                           "mismatch): an old member is running somewhere",
                           knocks));
                     return {};
                   }});
  return steps;
}

Result<std::vector<ClusterHostRun>> RestoreClusterHosts(const RestoreHostOptions& base,
                                                        const std::vector<std::string>& roots,
                                                        bool dry_run) {
  std::vector<ClusterHostRun> runs(roots.size());
  std::set<std::string> seen_roots, seen_dirs, seen_peers;
  // Every host planned (and so every refusal made, its journal's included)
  // before any changes; two hosts never share a root, data dir or peer URL.
  for (size_t i = 0; i < roots.size(); i++) {
    RestoreHostOptions o = base;
    o.root = roots[i];
    runs[i].root = roots[i];
    runs[i].plan = CPR_TRY(PlanRestoreHost(o));
    char real[PATH_MAX];
    const std::string root_id = ::realpath(roots[i].c_str(), real) ? real : roots[i];
    if (!seen_roots.insert(root_id).second || !seen_dirs.insert(runs[i].plan.data_dir).second ||
        !seen_peers.insert(runs[i].plan.peer_url).second)
      return MakeError(Code::kInvalidArgument, roots[i],
                       "two hosts share a root, a data dir or a peer URL",
                       "name each master's root once");
    ProcedureOptions po;
    po.procedure = "restore-cluster";
    po.state_dir = host::Host(o.root == "/" ? "" : o.root).state();
    po.inputs = runs[i].plan.inputs;
    po.again = base.again;
    if (!dry_run) CPR_RETURN_IF_ERROR(CheckJournal(po));
    if (runs[i].plan.backup_sha256 != runs[0].plan.backup_sha256)
      return MakeError(Code::kFailedPrecondition, roots[i],
                       fmt::format("restores backup {} (SHA-256 {}), {} restores {}",
                                   runs[i].plan.backup.snapshot, runs[i].plan.backup_sha256,
                                   roots[0], runs[0].plan.backup_sha256),
                       "every master must restore the same backup");
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < roots.size(); i++)
    threads.emplace_back([&, i] {
      RestoreHostOptions o = base;
      o.root = roots[i];
      const std::string name = runs[i].plan.name;
      if (base.out) o.out = [&base, name](const std::string& line) { base.out(name + " " + line); };
      ProcedureOptions po;
      po.procedure = "restore-cluster";
      po.state_dir = host::Host(o.root == "/" ? "" : o.root).state();
      po.inputs = runs[i].plan.inputs;
      po.dry_run = dry_run;
      po.out = o.out;
      po.again = o.again;
      auto r = RunProcedure(RestoreHostSteps(o, runs[i].plan), po, &runs[i].report);
      runs[i].result = r ? Result<void>() : Result<void>(r.error());
    });
  for (auto& t : threads) t.join();
  return runs;
}

Result<ProcedureReport> RestoreHost(const RestoreHostOptions& o, bool dry_run,
                                    RestoreHostPlan* plan_out, ProcedureReport* report) {
  const RestoreHostPlan plan = CPR_TRY(PlanRestoreHost(o));
  if (plan_out != nullptr) *plan_out = plan;
  ProcedureOptions po;
  po.procedure = ProcedureName(o.mode);
  po.state_dir = host::Host(o.root == "/" ? "" : o.root).state();
  po.inputs = plan.inputs;
  po.dry_run = dry_run;
  po.out = o.out;
  po.again = o.again;
  return RunProcedure(RestoreHostSteps(o, plan), po, report);
}

}  // namespace cpr::procedures
