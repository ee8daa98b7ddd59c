#include "etcd/restore.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>

#include "etcd/backend.h"
#include "etcd/data_dir_state.h"
#include "etcd/mvcc.h"
#include "etcd/restore_db.h"
#include "etcd/snap_file.h"
#include "etcd/snapshot_file.h"
#include "etcd/wal.h"
#include "util/atomic_file.h"
#include "util/text.h"

namespace cpr::etcd {
namespace {

constexpr const char* kStagingPrefix = ".cpr-restore-";
constexpr const char* kWalIncompleteMark = ".cpr-restore-incomplete";
// Test seam: CPR_RESTORE_FAULT=<step> kills the process (SIGKILL, no
// cleanup) when the restore reaches that step, to prove crash safety.
void FaultPoint(const char* step) {
  const char* at = std::getenv("CPR_RESTORE_FAULT");
  if (at != nullptr && std::strcmp(at, step) == 0) std::raise(SIGKILL);
}

std::string ErrnoText() { return std::strerror(errno); }

bool PathExists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

std::string BaseName(const std::string& p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  const size_t slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

// rm -rf for CPR's own output only: staging dirs (.cpr-restore-*), or a WAL
// dir a killed restore renamed into place but never committed (`marked`).
Result<void> RemoveOwnStaging(const std::string& path, bool marked = false) {
  if (BaseName(path).rfind(kStagingPrefix, 0) != 0 && !marked)
    return MakeError(Code::kInternal, path, "refusing to remove a path CPR did not create");
  auto rm = [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); };
  if (::nftw(path.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    return MakeError(Code::kIo, path, "cannot remove stale staging: " + ErrnoText());
  return {};
}

// Stale staging dirs a killed restore left in `dir`: exactly `prefix` then
// the PID of the restore that made it, which must no longer run (a restore
// of another data dir, or one still running, keeps its staging).
std::vector<std::string> StaleStaging(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string pid = n.substr(prefix.size());
      if (pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
      const pid_t owner = static_cast<pid_t>(std::stol(pid));
      if (owner != ::getpid() && ::kill(owner, 0) == 0) continue;  // still running
      out.push_back(dir + "/" + n);
    }
    ::closedir(d);
  }
  return out;
}

Result<void> ResolveOwner(const RestoreConfig& c, RestorePlan& p) {
  if (c.owner.empty()) {
    struct stat st {};
    if (p.data_dir_exists && ::stat(p.data_dir.c_str(), &st) == 0) {
      p.chown = st.st_uid != ::geteuid() || st.st_gid != ::getegid();
      p.uid = st.st_uid;
      p.gid = st.st_gid;
    }
    return {};
  }
  const size_t colon = c.owner.find(':');
  const std::string user = c.owner.substr(0, colon);
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) return MakeError(Code::kInvalidArgument, "--owner", "no such user: " + user);
  p.uid = pw->pw_uid;
  p.gid = pw->pw_gid;
  if (colon != std::string::npos) {
    const std::string group = c.owner.substr(colon + 1);
    const struct group* gr = ::getgrnam(group.c_str());
    if (gr == nullptr)
      return MakeError(Code::kInvalidArgument, "--owner", "no such group: " + group);
    p.gid = gr->gr_gid;
  }
  p.chown = true;
  return {};
}

Result<void> CheckFreeSpace(const std::string& dir, uint64_t need, const std::string& what) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return {};  // cannot tell: let the write fail
  const uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (avail < need)
    return MakeError(Code::kFailedPrecondition, dir,
                     fmt::format("{} needs {} but only {} are free", what, HumanizeBytes(need),
                                 HumanizeBytes(avail)),
                     "free space there, or restore to another --data-dir");
  return {};
}

// The WAL dir must be a dir of its own: not the data dir, not the member
// dir or a dir inside it other than member/wal (the default), and not a dir
// the data dir is inside (moving it aside would move the data dir).
// Checked on absolute, normalized paths before anything is written.
// True when it names <data-dir>/member/wal, the default layout.
Result<bool> CheckWalDir(const std::string& data_dir, const std::string& wal_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path data = fs::absolute(data_dir, ec).lexically_normal();
  const fs::path wal = fs::absolute(wal_dir, ec).lexically_normal();
  const fs::path member = data / "member";
  auto inside = [](const fs::path& p, const fs::path& dir) {
    const fs::path rel = p.lexically_relative(dir);
    return !rel.empty() && *rel.begin() != "..";
  };
  auto clash = [&](const std::string& what) {
    return MakeError(Code::kInvalidArgument, "--wal-dir", wal_dir + " " + what,
                     "leave --wal-dir out (the WAL goes to <data-dir>/member/wal), or name a "
                     "directory of its own outside " +
                         data_dir);
  };
  if (wal == data || wal == data / "") return clash("is the data dir");
  if (wal == member) return clash("is the member dir");
  if (wal == member / "wal") return true;
  if (inside(wal, member)) return clash("is inside the member dir");
  if (inside(data, wal)) return clash("holds the data dir");
  return false;
}

}  // namespace

Result<RestorePlan> PlanRestore(const RestoreConfig& c) {
  RestorePlan p;
  // §5.1: the default cluster is built from the default name, whatever --name is.
  const std::string cluster =
      c.initial_cluster.empty() ? "default=http://localhost:2380" : c.initial_cluster;
  p.membership = CPR_TRY(ComputeMembership(cluster, c.token, c.name, c.advertise_peer_urls));
  if (c.mark_compacted && c.bump_revision <= 0)
    return MakeError(Code::kInvalidArgument, "--mark-compacted", "requires --bump-revision",
                     "as etcdutl: compaction is marked at the bumped revision");
  if (c.bump_revision < 0)
    return MakeError(Code::kInvalidArgument, "--bump-revision", "must not be negative");
  if (c.bump_revision > kMaxRevision)
    return MakeError(Code::kInvalidArgument, "--bump-revision",
                     fmt::format("{} is beyond etcd's revision range (at most {})", c.bump_revision,
                                 kMaxRevision));

  p.data_dir = c.data_dir.empty() ? c.name + ".etcd" : c.data_dir;
  while (p.data_dir.size() > 1 && p.data_dir.back() == '/') p.data_dir.pop_back();
  p.member_dir = p.data_dir + "/member";
  std::string wal = c.wal_dir;
  while (wal.size() > 1 && wal.back() == '/') wal.pop_back();
  // <data-dir>/member/wal given explicitly is the default layout.
  p.custom_wal_dir = !wal.empty() && !CPR_TRY(CheckWalDir(p.data_dir, wal));
  p.wal_dir = p.custom_wal_dir ? wal : p.member_dir + "/wal";
  // A WAL dir under the data dir needs the data dir first: stage inside it.
  p.stage_inside = p.custom_wal_dir && wal.rfind(p.data_dir + "/", 0) == 0;
  struct stat st {};
  if (::stat(p.data_dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return MakeError(Code::kFailedPrecondition, p.data_dir, "exists and is not a directory");
    p.data_dir_exists = true;
  }
  if (p.data_dir_exists) p.stage_inside = true;
  const std::string stamp = LocalStamp();
  if (PathExists(p.member_dir)) {
    if (!c.move_aside)
      return MakeError(Code::kFailedPrecondition, p.member_dir,
                       "a member already exists in the data dir",
                       "pass --move-aside to move it into a timestamped folder beside it, or "
                       "choose another --data-dir");
    if (DataDirLockedByEtcd(p.data_dir))
      return MakeError(Code::kFailedPrecondition, p.member_dir,
                       "etcd is still running on it (member/snap/db is locked)",
                       "stop the etcd member (its static pod or service) first");
    p.move_member_to = MoveAsideName(p.member_dir, stamp);
  }
  // A --wal-dir holding our mark belongs to an unfinished restore: stale
  // (removed by the run) when no member was committed, else the committed
  // member's WAL, which moves aside with it.
  const bool marked_wal = p.custom_wal_dir && PathExists(p.wal_dir + "/" + kWalIncompleteMark);
  if (p.custom_wal_dir && PathExists(p.wal_dir) && (!marked_wal || PathExists(p.member_dir))) {
    if (!c.move_aside)
      return MakeError(Code::kFailedPrecondition, p.wal_dir, "the --wal-dir already exists",
                       "pass --move-aside to move it aside, or choose another --wal-dir");
    p.move_wal_to = MoveAsideName(p.wal_dir, stamp);
  }
  CPR_RETURN_IF_ERROR(ResolveOwner(c, p));

  p.source = CPR_TRY(ResolveBackupSource(c.source, c.stamp));
  p.warnings = p.source.warnings;
  if (p.source.kind != BackupSet::Kind::kLegacyTar) {
    // The small buckets say what the restore will carry over.
    auto backend = CPR_TRY(Backend::Open(p.source.snapshot));
    p.source_bytes = backend->reader().file().size();
    p.revision = CPR_TRY(backend->LatestRevision()).main;
    p.compact_revision = CPR_TRY(backend->Meta()).finished_compact;
    p.alarms = CPR_TRY(backend->Alarms());
    if (!HasHashTrailer(p.source_bytes) && !c.skip_hash_check)
      return MakeError(
          Code::kFailedPrecondition, p.source.snapshot,
          "snapshot missing hash but --skip-hash-check=false",
          "a db copied from a data dir has no SHA-256 trailer: pass --skip-hash-check");
  } else {
    struct stat ts {};
    ::stat(p.source.snapshot.c_str(), &ts);
    p.source_bytes = static_cast<uint64_t>(ts.st_size) * 4;  // room for the extracted db
  }
  const int64_t newest = std::max(p.revision, p.compact_revision);
  if (c.to_revision < 0)
    return MakeError(Code::kInvalidArgument, "--to-revision", "must not be negative");
  if (c.to_revision > 0 && p.source.kind != BackupSet::Kind::kLegacyTar &&
      (c.to_revision < p.compact_revision || c.to_revision > newest))
    return MakeError(Code::kInvalidArgument, "--to-revision",
                     fmt::format("revision {} is outside what the snapshot holds: from its "
                                 "compacted revision {} to its newest {}",
                                 c.to_revision, p.compact_revision, newest),
                     "`cpr snapshot history FILE KEY` and `snapshot diff --rev` show which "
                     "revision to restore to");
  p.to_revision = c.to_revision;
  if (c.bump_revision > kMaxRevision - newest)
    return MakeError(Code::kInvalidArgument, "--bump-revision",
                     fmt::format("the snapshot's revision {} + {} is beyond etcd's revision "
                                 "range (at most {})",
                                 newest, c.bump_revision, kMaxRevision),
                     "a bump of a billion (1000000000) outruns any client's cache");
  p.new_revision = newest + c.bump_revision;
  p.mark_compacted = c.mark_compacted;
  for (const auto& a : p.alarms)
    if (!c.clear_alarms)
      p.warnings.push_back(fmt::format(
          "the snapshot holds a {} alarm (member {}): writes will fail until it is disarmed "
          "(`etcdctl alarm disarm`), or restore with --clear-alarms",
          a.TypeName(), MemberIdHex(a.member_id)));

  const std::string stage_parent = p.stage_inside ? p.data_dir : DirName(p.data_dir);
  if (PathExists(stage_parent))
    CPR_RETURN_IF_ERROR(
        CheckFreeSpace(stage_parent, p.source_bytes + kWalSegmentBytes, "the restored member"));
  return p;
}

std::vector<std::string> RestorePlan::Steps() const {
  std::vector<std::string> s;
  const auto& m = membership;
  s.push_back(fmt::format("source: {} ({}{}{})", source.snapshot, source.KindName(),
                          source.stamp.empty() ? "" : ", stamp " + source.stamp,
                          source.snapshot_sha256.empty() ? "" : ", SHA-256 from the manifest"));
  s.push_back(fmt::format("member {} ID {:x} in cluster {:x} ({} members: {})", m.me().name,
                          m.me().id, m.cluster_id, m.members.size(), [&] {
                            std::string names;
                            for (const auto& x : m.members)
                              names += (names.empty() ? "" : ", ") +
                                       fmt::format("{}={:x}", x.name, x.id);
                            return names;
                          }()));
  if (!move_member_to.empty()) s.push_back("move aside: " + member_dir + " -> " + move_member_to);
  if (!move_wal_to.empty()) s.push_back("move aside: " + wal_dir + " -> " + move_wal_to);
  s.push_back(
      fmt::format("verify the source (SHA-256 trailer, bbolt structure, etcd schema) while "
                  "copying it into the db: {}/snap/db (source {})",
                  member_dir, HumanizeBytes(source_bytes)));
  s.push_back(fmt::format("write the WAL: {}/{} (64 MB, {} records)", wal_dir, kFirstWalSegment,
                          4 + m.members.size()));
  s.push_back(fmt::format("write the snapshot: {}/snap/{}", member_dir, RestoreSnapFileName(m)));
  if (new_revision != std::max(revision, compact_revision))
    s.push_back(fmt::format("bump the revision: {} -> {}", std::max(revision, compact_revision),
                            new_revision));
  if (to_revision > 0)
    s.push_back(fmt::format("point in time: keep only the key revisions at or below {} (of {})",
                            to_revision, revision));
  if (mark_compacted)
    s.push_back(
        fmt::format("compact at {}: keep only the newest revision of each live key, as "
                    "etcd's own compaction would",
                    new_revision));
  s.push_back(fmt::format("commit: fsync, then rename the staged member into {}", data_dir));
  if (chown) s.push_back(fmt::format("owner of everything written: uid {} gid {}", uid, gid));
  return s;
}

std::string RestorePlan::EtcdCommand() const {
  std::string cluster;
  for (const auto& m : membership.members)
    for (const auto& u : m.peer_urls) cluster += (cluster.empty() ? "" : ",") + m.name + "=" + u;
  std::string urls;
  for (const auto& u : membership.me().peer_urls) urls += (urls.empty() ? "" : ",") + u;
  return fmt::format(
      "etcd --name {} --data-dir {}{} --initial-advertise-peer-urls {} --listen-peer-urls {} "
      "--initial-cluster {} --initial-cluster-state new",
      ShellQuote(membership.me().name), ShellQuote(data_dir),
      custom_wal_dir ? " --wal-dir " + ShellQuote(wal_dir) : "", ShellQuote(urls), ShellQuote(urls),
      ShellQuote(cluster));
}

namespace {

// Leases that keys alive in `db` name but its lease bucket lacks, sorted.
// etcd boots anyway (mvcc/kvstore.go restore only warns "failed to attach
// a lease"), and such keys never expire: the operator must hear of them.
Result<std::vector<int64_t>> MissingLeases(const std::string& db) {
  auto backend = CPR_TRY(Backend::Open(db));
  std::set<int64_t> held;
  for (const auto& l : CPR_TRY(backend->Leases())) held.insert(l.id);
  const KeySet live = CPR_TRY(LiveKeys(*backend, CPR_TRY(ResolveRevision(*backend, 0)), ""));
  std::set<int64_t> missing;
  for (size_t i = 0; i < live.size(); i++) {
    const Record r = CPR_TRY(live.record(i));
    if (r.kv.lease != 0 && held.count(r.kv.lease) == 0) missing.insert(r.kv.lease);
  }
  return std::vector<int64_t>(missing.begin(), missing.end());
}

Result<void> SetOwnerAndMode(const std::string& path, mode_t mode, const RestorePlan& p) {
  if (::chmod(path.c_str(), mode) != 0) return MakeError(Code::kIo, path, "chmod: " + ErrnoText());
  if (p.chown && ::lchown(path.c_str(), p.uid, p.gid) != 0)
    return MakeError(Code::kIo, path, "chown: " + ErrnoText());
  return {};
}

Result<void> WriteWholeFile(const std::string& path, Bytes data, uint64_t preallocate) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Code::kIo, path, "cannot create: " + ErrnoText());
  bool ok = true;
  if (preallocate > 0) ok = ::posix_fallocate(fd, 0, static_cast<off_t>(preallocate)) == 0;
  size_t done = 0;
  while (ok && done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n <= 0 && errno != EINTR) ok = false;
    if (n > 0) done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  errno = err;
  if (!ok) return MakeError(Code::kIo, path, "cannot write: " + ErrnoText());
  return {};
}

class Timer {
 public:
  double Lap() {
    auto now = std::chrono::steady_clock::now();
    double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return s;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

Result<RestoreResult> RunRestore(const RestoreConfig& c, const RestorePlan& p) {
  RestoreResult result;
  Timer timer;
  auto lap = [&](const std::string& what) {
    result.step_times.push_back(fmt::format("{} {:.2f}s", what, timer.Lap()));
  };

  // 1. Stale staging from a killed run: ours, so it goes.
  const std::string stage_parent = p.stage_inside ? p.data_dir : DirName(p.data_dir);
  const std::string stage_prefix =
      p.stage_inside ? kStagingPrefix : std::string(kStagingPrefix) + BaseName(p.data_dir) + "-";
  if (!PathExists(stage_parent)) {
    CPR_RETURN_IF_ERROR(MakeDirs(stage_parent, 0700));
    if (p.stage_inside && p.chown) (void)::lchown(stage_parent.c_str(), p.uid, p.gid);
  }
  for (const auto& stale : StaleStaging(stage_parent, stage_prefix))
    CPR_RETURN_IF_ERROR(RemoveOwnStaging(stale));
  if (p.custom_wal_dir && PathExists(p.wal_dir + "/" + kWalIncompleteMark) &&
      !PathExists(p.member_dir))
    CPR_RETURN_IF_ERROR(RemoveOwnStaging(p.wal_dir, /*marked=*/true));
  const std::string wal_parent = DirName(p.wal_dir);
  const std::string wal_prefix = std::string(kStagingPrefix) + "wal-" + BaseName(p.wal_dir) + "-";
  if (p.custom_wal_dir) {
    if (!PathExists(wal_parent)) CPR_RETURN_IF_ERROR(MakeDirs(wal_parent, 0700));
    for (const auto& stale : StaleStaging(wal_parent, wal_prefix))
      CPR_RETURN_IF_ERROR(RemoveOwnStaging(stale));
  }

  // 2. The staging dir: the member is built in <staging>/member.
  const std::string staging = stage_parent + "/" + stage_prefix + std::to_string(::getpid());
  const std::string member = staging + "/member";
  const std::string snap_dir = member + "/snap";
  const std::string wal_stage = p.custom_wal_dir
                                    ? wal_parent + "/" + wal_prefix + std::to_string(::getpid())
                                    : member + "/wal";
  CPR_RETURN_IF_ERROR(MakeDirs(snap_dir, 0700));
  CPR_RETURN_IF_ERROR(MakeDirs(wal_stage, 0700));
  auto abandon = [&](Error e) {
    (void)RemoveOwnStaging(staging);
    if (p.custom_wal_dir) (void)RemoveOwnStaging(wal_stage);
    return e;
  };
  FaultPoint("staging");

  // 3. The source: a legacy archive is streamed into the staging dir first.
  std::string source_file = p.source.snapshot;
  if (p.source.kind == BackupSet::Kind::kLegacyTar) {
    source_file = staging + "/source-snapshot.db";
    auto n = ExtractLegacySnapshot(p.source.snapshot, source_file);
    if (!n) return abandon(n.error());
    lap("extract snapshot.db from the archive");
  }
  // 4. Verify the source and write the db (etcd/restore_db.h), checking
  // the SHA-256 the backup manifest records in the same pass.
  {
    auto backend = Backend::Open(source_file);
    if (!backend) return abandon(std::move(backend).error());
    RestoreDbEdits edits;
    edits.consistent_index = p.membership.members.size();
    edits.bump_to = c.bump_revision > 0 ? p.new_revision : 0;
    edits.mark_compacted = c.mark_compacted;
    edits.compact = c.mark_compacted;  // the history below a compaction is unreadable anyway
    edits.to_revision = c.to_revision;
    edits.clear_alarms = c.clear_alarms;
    edits.skip_hash_check = c.skip_hash_check;
    edits.file_sha256 = p.source.snapshot_sha256;
    edits.repair = c.repair;
    auto db = WriteRestoredDb(**backend, snap_dir + "/db", edits);
    if (!db) return abandon(std::move(db).error());
    result.db_bytes = db->bytes;
    result.keys = db->keys;
    result.repaired = db->repaired;
    result.repairs = db->repairs;
    result.compacted_away = db->compacted_away;
    result.after_revision = db->after_revision;
    if (c.to_revision > 0) {
      auto missing = MissingLeases(snap_dir + "/db");
      if (!missing) return abandon(std::move(missing).error());
      result.missing_leases = std::move(*missing);
    }
    lap(edits.file_sha256.empty() ? "verify the source and write the db"
                                  : "verify the source (and the SHA-256 in " +
                                        BaseName(p.source.manifest) + ") and write the db");
  }
  if (p.source.kind == BackupSet::Kind::kLegacyTar) ::unlink(source_file.c_str());
  FaultPoint("db");

  // 5. WAL and .snap (byte-identical to etcdctl's for the same flags).
  const Membership& m = p.membership;
  if (auto r = WriteWholeFile(wal_stage + "/" + kFirstWalSegment, RestoreWalRecords(m),
                              kWalSegmentBytes);
      !r)
    return abandon(r.error());
  FaultPoint("wal");
  if (auto r = WriteWholeFile(snap_dir + "/" + RestoreSnapFileName(m), RestoreSnapFile(m), 0); !r)
    return abandon(r.error());
  FaultPoint("snap");
  if (p.custom_wal_dir) {
    if (auto r = WriteWholeFile(wal_stage + "/" + kWalIncompleteMark, "", 0); !r)
      return abandon(r.error());
  }

  // 6. Modes, owner, and every directory fsynced before anything is renamed.
  for (const auto& [path, mode] :
       std::vector<std::pair<std::string, mode_t>>{{snap_dir + "/db", 0600},
                                                   {snap_dir + "/" + RestoreSnapFileName(m), 0600},
                                                   {wal_stage + "/" + kFirstWalSegment, 0600},
                                                   {snap_dir, 0700},
                                                   {wal_stage, 0700},
                                                   {member, 0700},
                                                   {staging, 0700}}) {
    if (auto r = SetOwnerAndMode(path, mode, p); !r) return abandon(r.error());
  }
  for (const auto& dir : {snap_dir, wal_stage, member, staging})
    if (auto r = FsyncDir(dir); !r) return abandon(r.error());
  lap("write the WAL and .snap, fsync");
  FaultPoint("synced");

  // 7. Move an existing member aside (a rename, never a delete).
  if (!p.move_member_to.empty()) {
    if (::rename(p.member_dir.c_str(), p.move_member_to.c_str()) != 0)
      return abandon(MakeError(Code::kIo, p.member_dir, "cannot move aside: " + ErrnoText()));
    CPR_RETURN_IF_ERROR(FsyncDir(p.data_dir));
    result.moved_member_to = p.move_member_to;
  }
  if (!p.move_wal_to.empty()) {
    if (::rename(p.wal_dir.c_str(), p.move_wal_to.c_str()) != 0)
      return abandon(MakeError(Code::kIo, p.wal_dir, "cannot move aside: " + ErrnoText()));
    result.moved_wal_to = p.move_wal_to;
  }

  // 8. Commit: the WAL dir first (with --wal-dir), the member last.
  if (p.custom_wal_dir) {
    if (::rename(wal_stage.c_str(), p.wal_dir.c_str()) != 0)
      return abandon(
          MakeError(Code::kIo, p.wal_dir, "cannot rename the WAL into place: " + ErrnoText()));
    CPR_RETURN_IF_ERROR(FsyncDir(wal_parent));
    FaultPoint("wal-renamed");
  }
  if (p.stage_inside) {
    if (::rename(member.c_str(), p.member_dir.c_str()) != 0)
      return abandon(
          MakeError(Code::kIo, p.member_dir, "cannot rename into place: " + ErrnoText()));
    CPR_RETURN_IF_ERROR(FsyncDir(p.data_dir));
    FaultPoint("committed");
    ::rmdir(staging.c_str());
  } else {
    if (::rename(staging.c_str(), p.data_dir.c_str()) != 0)
      return abandon(MakeError(Code::kIo, p.data_dir, "cannot rename into place: " + ErrnoText()));
    CPR_RETURN_IF_ERROR(FsyncDir(stage_parent));
    FaultPoint("committed");
  }
  if (p.custom_wal_dir) {
    ::unlink((p.wal_dir + "/" + kWalIncompleteMark).c_str());
    (void)FsyncDir(p.wal_dir);
  }
  lap("commit");
  return result;
}

}  // namespace cpr::etcd
