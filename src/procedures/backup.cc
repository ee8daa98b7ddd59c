#include "procedures/backup.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "bolt/page_index.h"
#include "etcd/backend.h"
#include "etcd/file_order_check.h"
#include "etcd/hashkv.h"
#include "etcd/snapshot_file.h"
#include "etcd/verify.h"
#include "util/atomic_file.h"
#include "util/file_lock.h"
#include "util/hash.h"
#include "util/text.h"

namespace cpr::procedures {
namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

const std::vector<BackupStep>& BackupSteps() {
  static const std::vector<BackupStep> steps = {
      {"choose-member", "status of each candidate; a healthy voting follower, else the leader"},
      {"prepare", "remove what a killed run left; a fresh stamp, journaled; enough free space"},
      {"stream", "snapshot to a temporary file, SHA-256 checked as it arrives; resources tar.gz"},
      {"verify", "full snapshot verify of the received file; the member's HashKV at its revision"},
      {"commit", "fsync + rename: tar.gz, then manifest, then the .db (the commit point)"},
      {"prune", "with --keep N, remove older backups beyond the newest N (.db first)"},
  };
  return steps;
}

namespace {

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string IdHex(uint64_t id) { return fmt::format("{:x}", id); }

std::string Hex(const uint8_t* p, size_t n) {
  return HexOf(Bytes(reinterpret_cast<const char*>(p), n));
}

// ---- SHA-256 of the stream --------------------------------------------------

// One SHA-256 over every received byte. At the db/trailer boundary the state
// is copied and finished, giving the db's digest (what etcd's trailer must
// equal) for free beside the whole file's.
class StreamHash {
 public:
  // Bytes at `offset` of the file; the db is the first `db_size` bytes.
  void Update(uint64_t offset, Bytes data, uint64_t db_size) {
    if (offset < db_size && offset + data.size() >= db_size) {
      const size_t head = static_cast<size_t>(db_size - offset);
      sha_.Update(data.substr(0, head));
      const Sha256Digest db = sha_.DigestSoFar();
      db_hex_ = Hex(db.data(), db.size());
      data.remove_prefix(head);
      offset = db_size;
    }
    if (offset >= db_size) trailer_.append(data.substr(0, std::min<size_t>(data.size(), 64)));
    sha_.Update(data);
  }
  std::string FileHex() {
    const Sha256Digest d = sha_.Finish();
    return Hex(d.data(), d.size());
  }
  const std::optional<std::string>& db_hex() const { return db_hex_; }
  const std::string& trailer() const { return trailer_; }

 private:
  Sha256 sha_;
  std::optional<std::string> db_hex_;
  std::string trailer_;
};

// ---- the receiving pipeline -------------------------------------------------

// Chunks arrive on the gRPC thread; a second thread hashes and writes them,
// so receiving, hashing and writing overlap on two cores. Buffers of 4 MiB,
// at most 4 in flight (bounded memory).
class SnapshotWriter {
 public:
  explicit SnapshotWriter(AtomicFile* file) : file_(file), thread_([this] { Loop(); }) {
    pending_.reserve(kBuffer);
  }
  ~SnapshotWriter() { Stop(); }

  Result<void> Push(Bytes chunk, uint64_t db_size) {
    db_size_ = db_size;
    pending_.append(chunk);
    if (pending_.size() >= kBuffer) return Flush();
    return {};
  }

  // Hands over the rest and waits for the writer; the first error wins.
  Result<void> Finish() {
    if (!pending_.empty()) CPR_RETURN_IF_ERROR(Flush());
    Stop();
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) return *error_;
    return {};
  }

  StreamHash& hash() { return hash_; }

 private:
  static constexpr size_t kBuffer = 4 << 20;
  static constexpr size_t kInFlight = 4;

  Result<void> Flush() {
    std::unique_lock<std::mutex> lock(mu_);
    space_.wait(lock, [&] { return queue_.size() < kInFlight || error_; });
    if (error_) return *error_;
    queue_.push_back(Job{std::move(pending_), db_size_});
    pending_ = std::string();
    pending_.reserve(kBuffer);
    ready_.notify_one();
    return {};
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    ready_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void Loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [&] { return !queue_.empty() || stop_; });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      space_.notify_one();
      hash_.Update(offset_, job.data, job.db_size);
      offset_ += job.data.size();
      if (auto r = file_->Write(job.data); !r) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::move(r).error();
        queue_.clear();
        space_.notify_all();
        return;
      }
    }
  }

  struct Job {
    std::string data;
    uint64_t db_size = 0;
  };
  AtomicFile* file_;
  StreamHash hash_;
  std::string pending_;
  uint64_t db_size_ = 0;
  uint64_t offset_ = 0;  // writer thread only
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<Job> queue_;
  bool stop_ = false;
  std::optional<Error> error_;
  std::thread thread_;  // last: starts after the members above exist
};

// ---- choose-member ----------------------------------------------------------

struct Candidate {
  std::string endpoint;
  Result<client::StatusResponse> status = Error{};
  bool quorum = true;  // false: chosen although it has no leader or fails a quorum read
};

// No member can serve a quorum read (two of three masters lost, say): the
// snapshot is still the first thing to take, and Maintenance.Snapshot needs
// no quorum. The member that has the most of the log (raft index, then
// term) holds the most committed writes; a learner is never chosen (etcd
// 3.4 refuses Snapshot on it).
std::optional<Candidate> WithoutQuorum(const std::vector<Candidate>& all) {
  const Candidate* best = nullptr;
  for (const Candidate& cand : all) {
    if (!cand.status || cand.status->is_learner) continue;
    const auto& s = *cand.status;
    if (best == nullptr || s.raft_index > best->status->raft_index ||
        (s.raft_index == best->status->raft_index && s.raft_term > best->status->raft_term))
      best = &cand;
  }
  if (best == nullptr) return std::nullopt;
  Candidate out = *best;
  out.quorum = false;
  return out;
}

Result<Candidate> ChooseMember(client::Client& c, const BackupOptions& o,
                               std::vector<std::string>* warnings) {
  std::vector<std::string> endpoints;
  if (o.cluster) {
    client::MembersResponse ml = CPR_TRY(c.MemberList());
    for (const auto& m : ml.members)
      for (const auto& u : m.client_urls) endpoints.push_back(u);
  } else {
    for (const auto& e : c.config().endpoints) endpoints.push_back(e.text);
  }
  // Every candidate at once: a dead one costs one timeout, not one each.
  std::vector<std::future<Result<client::StatusResponse>>> futures;
  for (const auto& ep : endpoints)
    futures.push_back(std::async(std::launch::async, [&c, ep] { return c.Status(ep); }));
  std::vector<Candidate> all;
  for (size_t i = 0; i < endpoints.size(); i++) all.push_back({endpoints[i], futures[i].get()});

  // Followers first (spare the leader), then the leader; never a learner
  // (etcd 3.4 refuses Snapshot on learners) or a member without a leader.
  std::vector<const Candidate*> order;
  std::vector<std::string> refused;
  for (int pass = 0; pass < 2; pass++) {
    for (const Candidate& cand : all) {
      if (!cand.status) continue;
      const client::StatusResponse& s = *cand.status;
      const bool leader = s.leader == s.header.member_id;
      if (s.is_learner || s.leader == 0 || !s.errors.empty()) continue;
      if ((pass == 0) == !leader) order.push_back(&cand);
    }
  }
  for (const Candidate& cand : all) {
    if (!cand.status) {
      refused.push_back(cand.status.error().ToString());
      continue;
    }
    const client::StatusResponse& s = *cand.status;
    if (s.is_learner)
      refused.push_back(fmt::format("endpoint {}: a learner", cand.endpoint));
    else if (s.leader == 0)
      refused.push_back(fmt::format("endpoint {}: no leader", cand.endpoint));
    else if (!s.errors.empty())
      refused.push_back(fmt::format("endpoint {}: errors: {}", cand.endpoint, s.errors.front()));
  }
  // A linearizable read proves the member is in the quorum and caught up.
  for (const Candidate* cand : order) {
    auto h = c.Health(cand->endpoint);
    if (!h) {
      refused.push_back(h.error().ToString());
      continue;
    }
    const client::StatusResponse& s = *cand->status;
    if (s.leader == s.header.member_id) {
      if (all.size() > 1)
        warnings->push_back(fmt::format(
            "no healthy follower among the endpoints: the snapshot comes from the leader ({})",
            cand->endpoint));
    }
    for (const auto& r : refused) warnings->push_back("skipped " + r);
    return *cand;
  }
  if (auto lone = WithoutQuorum(all)) {
    warnings->push_back(fmt::format(
        "no member has quorum ({}): the snapshot comes from {} anyway (raft index {}, term "
        "{}): it holds what that member had committed, not writes the others may have "
        "committed since",
        JoinList(refused, "; "), lone->endpoint, lone->status->raft_index,
        lone->status->raft_term));
    return *lone;
  }
  std::string what = "no member to take the snapshot from";
  for (const auto& r : refused) what += "; " + r;
  return MakeError(Code::kUnavailable, o.cluster ? "--cluster" : "--endpoints", what,
                   "check `cpr endpoint health` and the TLS and auth flags");
}

// ---- prepare ----------------------------------------------------------------

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%FT%TZ", &tm);
  return buf;
}

std::string SnapshotName(const std::string& stamp) { return "snapshot_" + stamp + ".db"; }
std::string ResourcesName(const std::string& stamp) {
  return "static_kuberesources_" + stamp + ".tar.gz";
}
std::string ManifestName(const std::string& stamp) { return "backup_" + stamp + ".json"; }

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// A stamp none of whose three files exists, and not `used` (a killed run's:
// its files are gone, but two runs never share a name in the logs). Waits for
// the next second when this second's is taken.
Result<std::string> FreshStamp(const std::string& dir, const std::string& used) {
  for (int attempt = 0; attempt < 3; attempt++) {
    const std::string stamp = LocalStamp();
    if (stamp != used && !Exists(dir + "/" + SnapshotName(stamp)) &&
        !Exists(dir + "/" + ResourcesName(stamp)) && !Exists(dir + "/" + ManifestName(stamp)))
      return stamp;
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  }
  return MakeError(Code::kFailedPrecondition, dir,
                   "backups with this second's stamp already exist");
}

Result<bool> PrepareDir(const std::string& dir, std::vector<std::string>* warnings) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return MakeError(Code::kFailedPrecondition, dir, "exists and is not a directory");
    if ((st.st_mode & 077) != 0) {
      if (::chmod(dir.c_str(), 0700) != 0)
        return MakeError(Code::kIo, dir, std::string("chmod 0700: ") + std::strerror(errno));
      warnings->push_back(fmt::format("{} was mode {:o}; now 0700 (a backup holds every Secret)",
                                      dir, st.st_mode & 0777));
    }
    if (::access(dir.c_str(), W_OK) != 0)
      return MakeError(Code::kFailedPrecondition, dir, "not writable by this user");
    return false;
  }
  CPR_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  return true;
}

Result<void> CheckFreeSpace(const std::string& dir, uint64_t need) {
  struct statvfs vfs;
  if (::statvfs(dir.c_str(), &vfs) != 0)
    return MakeError(Code::kIo, dir, std::string("statvfs: ") + std::strerror(errno));
  const uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (avail < need)
    return MakeError(Code::kFailedPrecondition, dir,
                     fmt::format("not enough free space: the backup needs about {}, {} is free",
                                 HumanizeBytes(need), HumanizeBytes(avail)),
                     "free space there or back up to another filesystem");
  return {};
}

// ---- prune ------------------------------------------------------------------

Result<std::vector<std::string>> Prune(const std::string& dir, int keep) {
  std::vector<std::string> stamps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string stamp = StampOfSnapshotName(e.path().filename().string());
    if (!stamp.empty() && e.is_regular_file(ec)) stamps.push_back(stamp);
  }
  if (ec) return MakeError(Code::kIo, dir, "cannot list: " + ec.message());
  std::sort(stamps.rbegin(), stamps.rend());  // newest first (the stamp sorts by time)
  std::vector<std::string> pruned;
  for (size_t i = static_cast<size_t>(keep); i < stamps.size(); i++) {
    const std::string& s = stamps[i];
    // The .db first: without it the backup no longer exists, whatever
    // happens next.
    for (const std::string& name : {SnapshotName(s), ResourcesName(s), ManifestName(s)}) {
      const std::string path = dir + "/" + name;
      if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return MakeError(Code::kIo, path, std::string("unlink: ") + std::strerror(errno));
    }
    pruned.push_back(s);
  }
  if (!pruned.empty()) CPR_RETURN_IF_ERROR(FsyncDir(dir));
  return pruned;
}

Json MemberJsonOf(const client::Member& m) {
  return Json{{"id", IdHex(m.id)},
              {"name", m.name},
              {"peerURLs", m.peer_urls},
              {"clientURLs", m.client_urls},
              {"isLearner", m.is_learner}};
}

Json ManifestDoc(const BackupResult& r) {
  Json j;
  j["format"] = "cpr-backup/1";
  j["stamp"] = r.stamp;
  j["createdAt"] = UtcNow();
  j["snapshot"] = {
      {"file", r.snapshot.name}, {"size", r.snapshot.size}, {"sha256", r.snapshot.sha256}};
  if (r.has_resources) {
    Json revs = Json::object();
    for (const auto& [component, n] : r.selection.revisions) revs[component] = n;
    j["resources"] = {{"file", r.resources.name},
                      {"size", r.resources.size},
                      {"sha256", r.resources.sha256},
                      {"source", r.selection.root},
                      {"layout", r.selection.openshift_layout ? "openshift" : "folder"},
                      {"directories", r.selection.dirs},
                      {"revisions", revs},
                      {"etcdMember", r.selection.etcd_member}};
  } else {
    j["resources"] = nullptr;
  }
  j["revision"] = r.revision;
  j["hashKV"] = r.hash_kv;
  j["memberHashKV"] = {{"hash", r.member_hash_kv},
                       {"compactRevision", r.hash_kv_compact_revision},
                       {"compactedSinceSnapshot", r.compacted_since}};
  j["compactRevision"] = r.compact_revision;
  j["raftIndex"] = r.raft_index;
  j["raftTerm"] = r.raft_term;
  j["quorum"] = r.quorum;
  j["memberRaftIndex"] = r.member_raft_index;
  j["etcdVersion"] = r.etcd_version;
  j["clusterID"] = IdHex(r.cluster_id);
  Json members = Json::array();
  for (const auto& m : r.members) members.push_back(MemberJsonOf(m));
  j["members"] = members;
  Json from = MemberJsonOf(r.member);
  from["endpoint"] = r.endpoint;
  from["isLeader"] = r.from_leader;
  j["member"] = from;
  j["warnings"] = r.warnings;
  return j;
}

}  // namespace

std::string StampOfSnapshotName(std::string_view name) {
  // snapshot_YYYY-MM-DD_HHMMSS.db
  constexpr std::string_view kPrefix = "snapshot_", kSuffix = ".db";
  if (name.size() != kPrefix.size() + 17 + kSuffix.size()) return "";
  if (name.substr(0, kPrefix.size()) != kPrefix || name.substr(name.size() - 3) != kSuffix)
    return "";
  const std::string_view s = name.substr(kPrefix.size(), 17);
  for (size_t i = 0; i < s.size(); i++) {
    const bool sep = i == 4 || i == 7 || i == 10;
    const char want = i == 10 ? '_' : '-';
    if (sep ? s[i] != want : (s[i] < '0' || s[i] > '9')) return "";
  }
  return std::string(s);
}

std::string BackupManifestJson(const BackupResult& r) { return ManifestDoc(r).dump(2) + "\n"; }

std::string BackupResultJson(const BackupResult& r) {
  Json j = ManifestDoc(r);
  j["dir"] = r.dir;
  j["snapshot"]["path"] = r.snapshot.path;
  if (r.has_resources) j["resources"]["path"] = r.resources.path;
  j["manifest"] = r.manifest_path;
  j["pruned"] = r.pruned;
  j["seconds"] = r.seconds;
  j["streamSeconds"] = r.stream_seconds;
  j["verifySeconds"] = r.verify_seconds;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

namespace {

// What one backup's steps share: each leaves here what the next needs. The
// step functions hold a pointer to it; it outlives RunProcedure.
struct BackupRun {
  BackupRun(client::Client& c, const BackupOptions& options, const BackupObserver& obs,
            const std::atomic<bool>* cancelled)
      : client(c), o(options), observer(obs), cancel(cancelled) {}

  client::Client& client;
  const BackupOptions& o;
  const BackupObserver& observer;
  const std::atomic<bool>* cancel;
  BackupResult r;
  bool created_dir = false;     // DIR made by this run, or by the killed run it resumes
  uint64_t member_db_size = 0;  // the chosen member's db: what prepare asks free space for
  // Written by stream, published by commit. Destroyed unpublished, they
  // remove their temporary files.
  std::unique_ptr<AtomicFile> db, tar;
  std::vector<std::string> tar_warnings;  // the archive thread's; merged once it is joined
  // Verification's first pass runs on the bytes as they arrive (the stream
  // is etcd-bound: its thread has time), so verify only walks the trees.
  etcd::FileOrderCheck files{etcd::FileOrderCheck::Options{}};
  std::optional<bolt::PageIndexStream> pass1;
  std::vector<std::string> committed;  // published before the .db: undone if the .db never is
  std::future<Result<void>> tar_done;  // declared after `tar`: joined before `tar` goes

  Result<void> Cancelled() const {
    if (cancel != nullptr && cancel->load())
      return MakeError(Code::kUnavailable, "backup", "interrupted");
    return {};
  }

  // After a failed step: every file this run wrote goes. False when one
  // could not be removed (the journal then stays, for the next run).
  bool Abandon() {
    if (tar_done.valid()) tar_done.wait();
    tar.reset();
    const bool published = db && db->committed();
    db.reset();
    if (published) return true;
    bool all = true;
    for (const auto& p : committed) all = (::unlink(p.c_str()) == 0 || errno == ENOENT) && all;
    return all;
  }
};

Result<void> ChooseMemberStep(BackupRun& b, StepContext& ctx) {
  BackupResult& r = b.r;
  Candidate chosen = CPR_TRY(ChooseMember(b.client, b.o, &r.warnings));
  const client::StatusResponse& status = *chosen.status;
  r.endpoint = chosen.endpoint;
  r.from_leader = status.leader == status.header.member_id;
  r.etcd_version = status.version;
  r.raft_term = status.raft_term;
  r.cluster_id = status.header.cluster_id;
  b.member_db_size = static_cast<uint64_t>(status.db_size);
  r.quorum = chosen.quorum;
  r.member_raft_index = status.raft_index;
  if (!r.quorum) ctx.Say("warning: " + r.warnings.back());  // said now, before the stream
  client::MembersResponse ml = CPR_TRY(b.client.MemberList());
  r.members = ml.members;
  for (const auto& m : ml.members)
    if (m.id == status.header.member_id) r.member = m;
  if (r.member.id == 0) r.member.id = status.header.member_id;
  ctx.Say(fmt::format("{}: member {}, the {}, db {}{}", r.endpoint,
                      r.member.name.empty() ? IdHex(r.member.id) : r.member.name,
                      r.from_leader ? "leader" : "follower", HumanizeBytes(b.member_db_size),
                      r.from_leader && b.client.config().endpoints.size() == 1 && !b.o.cluster
                          ? "; give every member's endpoint (or --cluster) to spare the leader"
                          : ""));
  return b.Cancelled();
}

// What a killed run left (its stamp is in the journal): its temporary files
// go; so do its tar.gz and manifest unless its .db was published, since a
// backup without its .db does not exist. A published one is whole: kept.
Result<void> RemoveInterrupted(const std::string& dir, const std::string& stamp, StepContext& ctx) {
  if (stamp.empty()) return {};
  const bool published = Exists(dir + "/" + SnapshotName(stamp));
  int removed = 0;
  for (const std::string& name : {SnapshotName(stamp), ResourcesName(stamp), ManifestName(stamp)}) {
    const std::string path = dir + "/" + name;
    removed += CPR_TRY(RemoveTempFiles(path));
    if (published || name == SnapshotName(stamp)) continue;
    if (::unlink(path.c_str()) == 0)
      removed++;
    else if (errno != ENOENT)
      return MakeError(Code::kIo, path, std::string("unlink: ") + std::strerror(errno));
  }
  if (removed > 0) CPR_RETURN_IF_ERROR(FsyncDir(dir));
  ctx.Say(published ? fmt::format("the interrupted run's backup {} was published: kept", stamp)
                    : fmt::format("removed {} file(s) of the interrupted run {}", removed, stamp));
  return {};
}

Result<void> PrepareStep(BackupRun& b, StepContext& ctx) {
  BackupResult& r = b.r;
  const std::string killed = ctx.Get("stamp");
  CPR_RETURN_IF_ERROR(RemoveInterrupted(r.dir, killed, ctx));
  b.created_dir = b.created_dir || ctx.Get("created_dir") == "yes";
  r.stamp = CPR_TRY(FreshStamp(r.dir, killed));
  CPR_RETURN_IF_ERROR(CheckFreeSpace(r.dir, b.member_db_size + 32 + r.selection.bytes + (1 << 20)));
  r.snapshot.name = SnapshotName(r.stamp);
  r.snapshot.path = r.dir + "/" + r.snapshot.name;
  r.manifest_path = r.dir + "/" + ManifestName(r.stamp);
  if (r.has_resources) {
    r.resources.name = ResourcesName(r.stamp);
    r.resources.path = r.dir + "/" + r.resources.name;
  }
  // Journaled before any file of this stamp exists: a re-run after a kill
  // knows every name this run may have written (RemoveInterrupted).
  ctx.Set("stamp", r.stamp);
  ctx.Set("created_dir", b.created_dir ? "yes" : "no");
  CPR_RETURN_IF_ERROR(ctx.Save());
  ctx.Say(fmt::format("{} stamp {}", r.dir, r.stamp));
  return {};
}

// The static pod resources archive, on a thread of its own while the
// snapshot streams; joined by verify (or Abandon).
Result<void> StartResourcesArchive(BackupRun& b) {
  if (!b.r.has_resources) return {};
  b.tar = CPR_TRY(AtomicFile::Create(b.r.resources.path, 0600));
  b.tar_done = std::async(std::launch::async, [&b]() -> Result<void> {
    Sha256 sha;
    auto stats = WriteResourcesTarGz(b.r.selection, [&](Bytes chunk) -> Result<void> {
      sha.Update(chunk);
      return b.tar->Write(chunk);
    });
    if (!stats) return std::move(stats).error();
    for (const auto& s : stats->skipped)
      b.tar_warnings.push_back("not archived (not a file, directory or symlink): " + s);
    b.r.resources.size = b.tar->size();
    const Sha256Digest d = sha.Finish();
    b.r.resources.sha256 = Hex(d.data(), d.size());
    return b.tar->Sync();
  });
  return {};
}

Result<void> StreamStep(BackupRun& b, StepContext& ctx) {
  BackupResult& r = b.r;
  b.db = CPR_TRY(AtomicFile::Create(r.snapshot.path, 0600));
  CPR_RETURN_IF_ERROR(StartResourcesArchive(b));
  const auto t_stream = Clock::now();
  uint64_t received = 0;
  SnapshotWriter writer(b.db.get());
  auto streamed = b.client.Snapshot(
      r.endpoint,
      [&](Bytes chunk, uint64_t db_size) -> Result<void> {
        if (!b.pass1)
          b.pass1.emplace([&b](const bolt::PageView& page) { b.files.OnLeafPage(page); },
                          db_size + etcd::kTrailerSize);
        b.pass1->Push(chunk);
        CPR_RETURN_IF_ERROR(writer.Push(chunk, db_size));
        received += chunk.size();
        if (b.observer.progress) b.observer.progress(received, db_size + etcd::kTrailerSize);
        return {};
      },
      b.cancel);
  auto written = writer.Finish();
  if (!streamed) return std::move(streamed).error();
  CPR_RETURN_IF_ERROR(written);
  StreamHash& hash = writer.hash();
  const std::string trailer_hex = HexOf(hash.trailer());
  if (!hash.db_hex() || hash.trailer().size() != etcd::kTrailerSize ||
      *hash.db_hex() != trailer_hex)
    return MakeError(Code::kCorrupt, "endpoint " + r.endpoint,
                     fmt::format("snapshot SHA-256 mismatch: the {} received db bytes hash to {}, "
                                 "etcd's trailer says {}",
                                 streamed->db_size, hash.db_hex().value_or("?"), trailer_hex),
                     "take the backup again; if it repeats, check that member's disk");
  r.snapshot.sha256 = hash.FileHex();
  r.snapshot.size = b.db->size();
  r.stream_seconds = Since(t_stream);
  ctx.Say(fmt::format("{} in {:.2f}s, SHA-256 trailer matches", HumanizeBytes(r.snapshot.size),
                      r.stream_seconds));
  return b.Cancelled();
}

// Every bbolt page and etcd's schema, on the file as received (its trailer
// was checked on these very bytes as they arrived: not hashed twice).
Result<etcd::VerifyReport> VerifyReceived(BackupRun& b, const etcd::Backend& backend) {
  const bolt::Reader& reader = backend.reader();
  bolt::PageIndex index =
      b.pass1 ? CPR_TRY(b.pass1->Finish(reader))
              : CPR_TRY(bolt::PageIndex::Build(
                    reader, [&b](const bolt::PageView& page) { b.files.OnLeafPage(page); }));
  etcd::FileOrderVisitor check_only;
  CPR_RETURN_IF_ERROR(b.files.Run(reader, index, check_only));
  if (b.files.check().report().fault_count > 0)
    return etcd::FullReport(backend, b.files, /*skip_hash_check=*/true);
  return b.files.check().report();
}

Result<void> CheckVerifyReport(const BackupResult& r, const etcd::VerifyReport& report) {
  if (!report.ok()) {
    std::string first;
    for (size_t i = 0; i < report.faults.size() && i < 3; i++)
      first +=
          fmt::format("; {}{}: {}", report.faults[i].check,
                      report.faults[i].page ? fmt::format(" page {}", report.faults[i].page) : "",
                      report.faults[i].what);
    return MakeError(Code::kCorrupt, "snapshot from " + r.endpoint,
                     fmt::format("the received snapshot fails verification: {} faults{}",
                                 report.fault_count, first),
                     "nothing was kept; take the backup from another member");
  }
  if (!etcd::HasHashTrailer(r.snapshot.size))
    return MakeError(Code::kCorrupt, "snapshot from " + r.endpoint,
                     fmt::format("the received snapshot is {} bytes: not a db + SHA-256 trailer",
                                 r.snapshot.size));
  if (report.revision != r.revision)
    return MakeError(
        Code::kInternal, "snapshot from " + r.endpoint,
        fmt::format("verify saw revision {}, the backend {}", report.revision, r.revision));
  return {};
}

// The member's HashKV at the file's revision. Revision 0 (nothing ever
// written): HashKV(0) would mean "latest" on the member, so the empty
// history's hash is computed here (etcd hashes the bucket name "key").
Result<client::HashKVResponse> MemberHashKV(client::Client& c, const BackupResult& r) {
  if (r.revision == 0) {
    client::HashKVResponse empty;
    empty.hash = Crc32c(0, "key");
    empty.compact_revision = -1;
    return empty;
  }
  return c.HashKV(r.endpoint, r.revision);
}

// The file's own hashKV (etcd/hashkv.h: what a member restored from it
// answers) is what the manifest records. The member's answer at the same
// revision must agree unless the member compacted after the snapshot: then
// its history is shorter, and the compaction is named.
Result<void> CompareHashKv(BackupResult& r, const client::HashKVResponse& member,
                           const etcd::HashKv& file) {
  r.hash_kv = file.hash;
  r.member_hash_kv = member.hash;
  r.hash_kv_compact_revision = member.compact_revision;
  const int64_t file_compact = file.compact_revision > 0 ? file.compact_revision : -1;
  const int64_t member_compact = member.compact_revision > 0 ? member.compact_revision : -1;
  if (member_compact != file_compact) {
    r.compacted_since = true;
    r.warnings.push_back(fmt::format(
        "the member compacted at revision {} after the snapshot was taken (the file is "
        "compacted at {}): its hashKV {} covers a shorter history than the file's own {}, "
        "which is recorded",
        member_compact, file_compact, member.hash, file.hash));
    return {};
  }
  if (member.hash != file.hash)
    return MakeError(Code::kCorrupt, "snapshot from " + r.endpoint,
                     fmt::format("the received file's hashKV {} differs from the member's {} at "
                                 "revision {} (both compacted at {}): the file is not what the "
                                 "member holds",
                                 file.hash, member.hash, r.revision, file_compact),
                     "nothing was kept; take the backup again, or from another member");
  return {};
}

// The revision and meta first (cheap), then HashKV on the member and the
// fsync run while the whole file is verified.
Result<void> VerifyStep(BackupRun& b, StepContext& ctx) {
  BackupResult& r = b.r;
  const auto t_verify = Clock::now();
  auto backend = CPR_TRY(etcd::Backend::Open(b.db->temp_path()));
  r.revision = CPR_TRY(backend->LatestRevision()).main;
  const etcd::MetaInfo meta = CPR_TRY(backend->Meta());
  r.raft_index = meta.consistent_index.value_or(0);
  r.compact_revision = meta.scheduled_compact ? meta.scheduled_compact : meta.finished_compact;
  auto hashkv = std::async(std::launch::async, [&] { return MemberHashKV(b.client, r); });
  auto synced = std::async(std::launch::async, [&] { return b.db->Sync(); });
  // A Backend of its own: readers share no state across threads.
  auto own = std::async(std::launch::async, [&]() -> Result<etcd::HashKv> {
    auto mine = CPR_TRY(etcd::Backend::Open(b.db->temp_path()));
    return etcd::ComputeHashKv(*mine, 0);
  });
  auto report = VerifyReceived(b, *backend);
  auto hk = hashkv.get();
  auto sy = synced.get();
  auto file_hk = own.get();
  if (!report)
    return Error(std::move(report).error()).Within("received snapshot from " + r.endpoint);
  CPR_RETURN_IF_ERROR(CheckVerifyReport(r, *report));
  CPR_RETURN_IF_ERROR(sy);
  if (!hk)
    return Error(std::move(hk).error()).Within(fmt::format("HashKV at revision {}", r.revision));
  if (!file_hk) return Error(std::move(file_hk).error()).Within("hashKV of the received file");
  CPR_RETURN_IF_ERROR(CompareHashKv(r, *hk, *file_hk));
  if (b.tar_done.valid()) {
    auto t = b.tar_done.get();
    if (!t) return Error(std::move(t).error()).Within("--resources " + b.o.resources);
  }
  for (auto& w : b.tar_warnings) r.warnings.push_back(std::move(w));
  b.tar_warnings.clear();
  r.verify_seconds = Since(t_verify);
  ctx.Say(fmt::format("{} revisions, newest {}, {} pages: no faults; hashKV {} in {:.2f}s",
                      report->revisions, r.revision, report->pages, r.hash_kv, r.verify_seconds));
  return b.Cancelled();
}

// tar.gz, manifest, .db last: the .db is the commit point.
Result<void> CommitStep(BackupRun& b, StepContext& ctx) {
  BackupResult& r = b.r;
  if (b.tar) {
    CPR_RETURN_IF_ERROR(b.tar->Commit());
    b.committed.push_back(b.tar->path());
  }
  CPR_RETURN_IF_ERROR(WriteFileAtomic(r.manifest_path, BackupManifestJson(r), 0600));
  b.committed.push_back(r.manifest_path);
  CPR_RETURN_IF_ERROR(b.db->Commit());
  ctx.Say(fmt::format("{}{}, {}", r.has_resources ? r.resources.name + ", " : "",
                      ManifestName(r.stamp), r.snapshot.name));
  return {};
}

// Only now that the new backup exists; a failure is a warning (the backup
// stands).
Result<void> PruneStep(BackupRun& b, StepContext& ctx) {
  if (b.o.keep <= 0) return {};
  auto pruned = Prune(b.r.dir, b.o.keep);
  if (!pruned) {
    b.r.warnings.push_back("--keep: " + pruned.error().ToString());
    return {};
  }
  b.r.pruned = std::move(pruned).value();
  if (!b.r.pruned.empty()) ctx.Say(fmt::format("removed {} older backup(s)", b.r.pruned.size()));
  return {};
}

std::vector<Step> BackupStepList(BackupRun& b) {
  using Fn = Result<void> (*)(BackupRun&, StepContext&);
  static constexpr Fn kRuns[] = {ChooseMemberStep, PrepareStep, StreamStep,
                                 VerifyStep,       CommitStep,  PruneStep};
  const auto& listed = BackupSteps();
  std::vector<Step> steps;
  for (size_t i = 0; i < listed.size(); i++)
    steps.push_back({std::string(listed[i].name), std::string(listed[i].summary),
                     [&b, run = kRuns[i]](StepContext& ctx) { return run(b, ctx); }});
  return steps;
}

// The journal lives in DIR itself (DIR/.cpr/journal): beside the files it
// names, on their filesystem, with no state folder to be root for. It only
// exists while a backup runs: once the run ends, finished (the manifest is
// its record) or failed with its files removed, it goes, and .cpr with it.
void RemoveJournal(const std::string& state_dir, const std::string& journal) {
  ::unlink(journal.c_str());
  ::rmdir((state_dir + "/journal").c_str());
  ::rmdir(state_dir.c_str());  // each rmdir only succeeds when empty
}

}  // namespace

Result<BackupResult> Backup(client::Client& client, const BackupOptions& o,
                            const BackupObserver& observer, const std::atomic<bool>* cancel,
                            ProcedureReport* report) {
  const auto t0 = Clock::now();
  if (o.dir.empty()) return MakeError(Code::kInvalidArgument, "DIR", "no backup directory given");
  if (o.keep < 0) return MakeError(Code::kInvalidArgument, "--keep", "must be >= 0");
  BackupRun b(client, o, observer, cancel);
  BackupResult& r = b.r;
  // Resources are checked before anything is contacted or created: a wrong
  // --resources is the operator's to fix.
  if (!o.no_resources) {
    r.selection = CPR_TRY(SelectStaticPodResources(o.resources, "--resources"));
    r.has_resources = true;
  }
  std::error_code ec;
  r.dir = fs::absolute(o.dir, ec).lexically_normal().string();
  if (r.dir.size() > 1 && r.dir.back() == '/') r.dir.pop_back();
  ProcedureOptions po;
  po.procedure = "backup";
  po.state_dir = r.dir + "/" + kBackupStateDir;
  po.inputs = "cpr backup";  // any re-run resumes a killed one: DIR is the journal's home
  po.dry_run = o.dry_run;
  po.out = observer.out;
  po.again = true;     // every backup is a new one
  po.redo_all = true;  // a stream cannot be resumed half-way: clean up, take a fresh one
  ProcedureReport local;
  ProcedureReport& rep = report != nullptr ? *report : local;
  const std::vector<Step> steps = BackupStepList(b);
  if (o.dry_run) {
    CPR_RETURN_IF_ERROR(RunProcedure(steps, po, &rep));
    return r;
  }
  // DIR first: the journal lives in it. Locked so that a second backup into
  // DIR never takes the running one's files for a killed run's leftovers.
  b.created_dir = CPR_TRY(PrepareDir(r.dir, &r.warnings));
  auto lock = FileLock::Acquire(r.dir, /*wait=*/false);
  if (!lock) {
    if (b.created_dir) ::rmdir(r.dir.c_str());
    return MakeError(Code::kFailedPrecondition, r.dir, "another cpr backup is writing into it",
                     "wait for it to finish (" + lock.error().ToString() + ")");
  }
  auto ran = RunProcedure(steps, po, &rep);
  if (!ran) {
    if (b.Abandon()) RemoveJournal(po.state_dir, rep.journal);
    if (b.created_dir) ::rmdir(r.dir.c_str());  // only succeeds when empty
    return std::move(ran).error();
  }
  RemoveJournal(po.state_dir, rep.journal);
  r.seconds = Since(t0);
  return r;
}

}  // namespace cpr::procedures
