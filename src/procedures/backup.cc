#include "procedures/backup.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
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
#include "etcd/snapshot_file.h"
#include "etcd/verify.h"
#include "util/atomic_file.h"
#include "util/hash.h"
#include "util/text.h"

namespace cpr::procedures {
namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

const std::vector<BackupStep>& BackupSteps() {
  static const std::vector<BackupStep> steps = {
      {"choose-member", "status of each candidate; a healthy voting follower, else the leader"},
      {"prepare", "DIR 0700, a fresh stamp, enough free space"},
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
};

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
  std::string what = "no healthy member to take the snapshot from";
  for (const auto& r : refused) what += "; " + r;
  return MakeError(Code::kUnavailable, o.cluster ? "--cluster" : "--endpoints", what,
                   "check `cpr endpoint health` and the TLS and auth flags");
}

// ---- prepare ----------------------------------------------------------------

std::string LocalStamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%F_%H%M%S", &tm);
  return buf;
}

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

// A stamp none of whose three files exists (waits for the next second when
// a backup was taken this second).
Result<std::string> FreshStamp(const std::string& dir) {
  for (int attempt = 0; attempt < 3; attempt++) {
    const std::string stamp = LocalStamp();
    if (!Exists(dir + "/" + SnapshotName(stamp)) && !Exists(dir + "/" + ResourcesName(stamp)) &&
        !Exists(dir + "/" + ManifestName(stamp)))
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
  j["compactRevision"] = r.compact_revision;
  j["raftIndex"] = r.raft_index;
  j["raftTerm"] = r.raft_term;
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

Result<BackupResult> Backup(client::Client& client, const BackupOptions& o,
                            const BackupObserver& observer, const std::atomic<bool>* cancel) {
  const auto t0 = Clock::now();
  auto say = [&](std::string_view step, const std::string& msg) {
    if (observer.step) observer.step(step, msg);
  };
  auto cancelled = [&]() -> Result<void> {
    if (cancel != nullptr && cancel->load())
      return MakeError(Code::kUnavailable, "backup", "interrupted");
    return {};
  };
  if (o.dir.empty()) return MakeError(Code::kInvalidArgument, "DIR", "no backup directory given");
  if (o.keep < 0) return MakeError(Code::kInvalidArgument, "--keep", "must be >= 0");
  BackupResult r;

  // Resources are checked before anything is contacted or created: a wrong
  // --resources is the operator's to fix.
  if (!o.no_resources) {
    r.selection = CPR_TRY(SelectStaticPodResources(o.resources, "--resources"));
    r.has_resources = true;
  }

  // choose-member
  Candidate chosen = CPR_TRY(ChooseMember(client, o, &r.warnings));
  const client::StatusResponse& status = *chosen.status;
  r.endpoint = chosen.endpoint;
  r.from_leader = status.leader == status.header.member_id;
  r.etcd_version = status.version;
  r.raft_term = status.raft_term;
  r.cluster_id = status.header.cluster_id;
  client::MembersResponse ml = CPR_TRY(client.MemberList());
  r.members = ml.members;
  for (const auto& m : ml.members)
    if (m.id == status.header.member_id) r.member = m;
  if (r.member.id == 0) r.member.id = status.header.member_id;
  say("choose-member",
      fmt::format("{}: member {}, the {}, db {}{}", r.endpoint,
                  r.member.name.empty() ? IdHex(r.member.id) : r.member.name,
                  r.from_leader ? "leader" : "follower",
                  HumanizeBytes(static_cast<uint64_t>(status.db_size)),
                  r.from_leader && client.config().endpoints.size() == 1 && !o.cluster
                      ? "; give every member's endpoint (or --cluster) to spare the leader"
                      : ""));
  CPR_RETURN_IF_ERROR(cancelled());

  // prepare
  std::error_code ec;
  r.dir = fs::absolute(o.dir, ec).lexically_normal().string();
  if (r.dir.size() > 1 && r.dir.back() == '/') r.dir.pop_back();
  const bool created_dir = CPR_TRY(PrepareDir(r.dir, &r.warnings));
  // Removes the directory again if this run made it and the run failed.
  struct DirGuard {
    std::string dir;
    bool armed;
    ~DirGuard() {
      if (armed) ::rmdir(dir.c_str());  // only succeeds when empty
    }
  } dir_guard{r.dir, created_dir};
  r.stamp = CPR_TRY(FreshStamp(r.dir));
  const uint64_t need = static_cast<uint64_t>(status.db_size) + 32 + r.selection.bytes + (1 << 20);
  CPR_RETURN_IF_ERROR(CheckFreeSpace(r.dir, need));
  r.snapshot.name = SnapshotName(r.stamp);
  r.snapshot.path = r.dir + "/" + r.snapshot.name;
  r.manifest_path = r.dir + "/" + ManifestName(r.stamp);
  if (r.has_resources) {
    r.resources.name = ResourcesName(r.stamp);
    r.resources.path = r.dir + "/" + r.resources.name;
  }
  say("prepare", fmt::format("{} stamp {}", r.dir, r.stamp));

  // stream (+ resources archive on a second thread)
  std::unique_ptr<AtomicFile> db = CPR_TRY(AtomicFile::Create(r.snapshot.path, 0600));
  std::unique_ptr<AtomicFile> tar;
  std::vector<std::string> tar_warnings;  // the archive thread's; merged once it is joined
  std::future<Result<void>> tar_done;
  if (r.has_resources) {
    tar = CPR_TRY(AtomicFile::Create(r.resources.path, 0600));
    tar_done = std::async(std::launch::async, [&]() -> Result<void> {
      auto sha = std::make_shared<Sha256>();
      auto stats = WriteResourcesTarGz(r.selection, [&](Bytes b) -> Result<void> {
        sha->Update(b);
        return tar->Write(b);
      });
      if (!stats) return std::move(stats).error();
      for (const auto& s : stats->skipped)
        tar_warnings.push_back("not archived (not a file, directory or symlink): " + s);
      r.resources.size = tar->size();
      const Sha256Digest d = sha->Finish();
      r.resources.sha256 = Hex(d.data(), d.size());
      return tar->Sync();
    });
  }
  // Whatever happens next, the archive thread is joined before `tar` goes.
  struct FutureJoin {
    std::future<Result<void>>* f;
    ~FutureJoin() {
      if (f->valid()) f->wait();
    }
  } tar_join{&tar_done};

  const auto t_stream = Clock::now();
  uint64_t received = 0;
  SnapshotWriter writer(db.get());
  // Verification's first pass runs on the bytes as they arrive (the stream
  // is etcd-bound: this thread has time), so only the trees are left to
  // walk once the last byte is in (etcd/file_order_check.h).
  etcd::FileOrderCheck files({});
  std::optional<bolt::PageIndexStream> pass1;
  auto streamed = client.Snapshot(
      r.endpoint,
      [&](Bytes chunk, uint64_t db_size) -> Result<void> {
        if (!pass1)
          pass1.emplace([&](const bolt::PageView& page) { files.OnLeafPage(page); },
                        db_size + etcd::kTrailerSize);
        pass1->Push(chunk);
        CPR_RETURN_IF_ERROR(writer.Push(chunk, db_size));
        received += chunk.size();
        if (observer.progress) observer.progress(received, db_size + etcd::kTrailerSize);
        return {};
      },
      cancel);
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
  r.snapshot.size = db->size();
  r.stream_seconds = Since(t_stream);
  say("stream", fmt::format("{} in {:.2f}s, SHA-256 trailer matches",
                            HumanizeBytes(r.snapshot.size), r.stream_seconds));
  CPR_RETURN_IF_ERROR(cancelled());

  // verify: the revision and meta first (cheap), then HashKV on the member
  // and the fsync run while the whole file is verified.
  const auto t_verify = Clock::now();
  auto backend = CPR_TRY(etcd::Backend::Open(db->temp_path()));
  r.revision = CPR_TRY(backend->LatestRevision()).main;
  const etcd::MetaInfo meta = CPR_TRY(backend->Meta());
  r.raft_index = meta.consistent_index.value_or(0);
  r.compact_revision = meta.scheduled_compact ? meta.scheduled_compact : meta.finished_compact;
  // Revision 0 (nothing ever written): HashKV(0) would mean "latest" on
  // the member, so the empty history's hash is computed here (etcd hashes
  // the bucket name "key", then each record).
  auto hashkv = std::async(std::launch::async, [&]() -> Result<client::HashKVResponse> {
    if (r.revision == 0) {
      client::HashKVResponse empty;
      empty.hash = Crc32c(0, "key");
      empty.compact_revision = -1;
      return empty;
    }
    return client.HashKV(r.endpoint, r.revision);
  });
  auto synced = std::async(std::launch::async, [&] { return db->Sync(); });
  // The trailer was checked on the very bytes written, as they arrived:
  // verify does not hash the file a second time.
  auto report = [&]() -> Result<etcd::VerifyReport> {
    const bolt::Reader& reader = backend->reader();
    bolt::PageIndex index =
        pass1 ? CPR_TRY(pass1->Finish(reader))
              : CPR_TRY(bolt::PageIndex::Build(
                    reader, [&](const bolt::PageView& page) { files.OnLeafPage(page); }));
    etcd::FileOrderVisitor check_only;
    CPR_RETURN_IF_ERROR(files.Run(reader, index, check_only));
    if (files.check().report().fault_count > 0)
      return etcd::FullReport(*backend, files, /*skip_hash_check=*/true);
    return files.check().report();
  }();
  auto hk = hashkv.get();
  auto sy = synced.get();
  if (!report)
    return Error(std::move(report).error()).Within("received snapshot from " + r.endpoint);
  if (!report->ok()) {
    std::string first;
    for (size_t i = 0; i < report->faults.size() && i < 3; i++)
      first +=
          fmt::format("; {}{}: {}", report->faults[i].check,
                      report->faults[i].page ? fmt::format(" page {}", report->faults[i].page) : "",
                      report->faults[i].what);
    return MakeError(Code::kCorrupt, "snapshot from " + r.endpoint,
                     fmt::format("the received snapshot fails verification: {} faults{}",
                                 report->fault_count, first),
                     "nothing was kept; take the backup from another member");
  }
  if (!etcd::HasHashTrailer(r.snapshot.size))
    return MakeError(Code::kCorrupt, "snapshot from " + r.endpoint,
                     fmt::format("the received snapshot is {} bytes: not a db + SHA-256 trailer",
                                 r.snapshot.size));
  if (report->revision != r.revision)
    return MakeError(
        Code::kInternal, "snapshot from " + r.endpoint,
        fmt::format("verify saw revision {}, the backend {}", report->revision, r.revision));
  CPR_RETURN_IF_ERROR(sy);
  if (!hk)
    return Error(std::move(hk).error()).Within(fmt::format("HashKV at revision {}", r.revision));
  r.hash_kv = hk->hash;
  r.hash_kv_compact_revision = hk->compact_revision;
  // A restore of the file compacts where the file says; the member's answer
  // covers the same history only if it has not compacted since the snapshot.
  const int64_t file_compact = r.compact_revision ? r.compact_revision : -1;
  if (hk->compact_revision != file_compact)
    r.warnings.push_back(fmt::format(
        "the member compacted at revision {} after the snapshot (the file: {}); hashKV {} covers "
        "the member's history, a restore of this file may hash differently",
        hk->compact_revision, file_compact, hk->hash));
  if (tar_done.valid()) {
    auto t = tar_done.get();
    if (!t) return Error(std::move(t).error()).Within("--resources " + o.resources);
  }
  for (auto& w : tar_warnings) r.warnings.push_back(std::move(w));
  r.verify_seconds = Since(t_verify);
  say("verify",
      fmt::format("{} revisions, newest {}, {} pages: no faults; hashKV {} in {:.2f}s",
                  report->revisions, r.revision, report->pages, r.hash_kv, r.verify_seconds));
  CPR_RETURN_IF_ERROR(cancelled());

  // commit: tar.gz, manifest, .db last.
  std::vector<std::string> committed;
  struct CommitGuard {
    std::vector<std::string>* paths;
    AtomicFile* db;
    ~CommitGuard() {
      if (db->committed()) return;
      for (const auto& p : *paths) ::unlink(p.c_str());
    }
  } commit_guard{&committed, db.get()};
  if (tar) {
    CPR_RETURN_IF_ERROR(tar->Commit());
    committed.push_back(tar->path());
  }
  CPR_RETURN_IF_ERROR(WriteFileAtomic(r.manifest_path, BackupManifestJson(r), 0600));
  committed.push_back(r.manifest_path);
  CPR_RETURN_IF_ERROR(db->Commit());
  dir_guard.armed = false;
  say("commit", fmt::format("{}{}, {}", r.has_resources ? r.resources.name + ", " : "",
                            ManifestName(r.stamp), r.snapshot.name));

  // prune: only now that the new backup exists.
  if (o.keep > 0) {
    auto pruned = Prune(r.dir, o.keep);
    if (pruned) {
      r.pruned = std::move(pruned).value();
      if (!r.pruned.empty())
        say("prune", fmt::format("removed {} older backup(s)", r.pruned.size()));
    } else {
      r.warnings.push_back("--keep: " + pruned.error().ToString());
    }
  }
  r.seconds = Since(t0);
  return r;
}

}  // namespace cpr::procedures
