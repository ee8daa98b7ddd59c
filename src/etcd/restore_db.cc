#include "etcd/restore_db.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <thread>
#include <unordered_map>

#include "bolt/cursor.h"
#include "bolt/page_index.h"
#include "bolt/writer.h"
#include "etcd/backup_set.h"
#include "etcd/file_order_check.h"
#include "etcd/mvcc.h"
#include "etcd/records.h"
#include "etcd/revision.h"
#include "etcd/snapshot_file.h"
#include "util/range_copier.h"

namespace cpr::etcd {
namespace {

constexpr uint64_t kCopySpan = 32 << 20;  // per copy_file_range call

// Copies pages of the source to the same offsets of the new file on a
// thread of its own (in the kernel: util/range_copier.h), then makes them
// durable, while the checks go on: the final fsync then has only the new
// pages left (on the VMs measured, an fsync of 512 MB costs ~0.3 s however
// early write-back started).
class PageCopy {
 public:
  PageCopy(const MappedFile& source, bolt::Writer& writer, uint32_t page_size)
      : source_(source), writer_(writer), page_size_(page_size) {}
  ~PageCopy() {
    stop_ = true;  // a restore that failed does not wait for the rest of the copy
    if (thread_.joinable()) thread_.join();
  }
  PageCopy(const PageCopy&) = delete;
  PageCopy& operator=(const PageCopy&) = delete;

  // Pages [first, end).
  void Start(bolt::Pgid first, bolt::Pgid end) {
    thread_ = std::thread([this, first, end] {
      RangeCopier copier(source_, writer_.fd(), writer_.path());
      for (bolt::Pgid at = first; at < end && result_ && !stop_; at += kCopySpan / page_size_) {
        const uint64_t n = std::min<uint64_t>(kCopySpan / page_size_, end - at);
        result_ = copier.Copy(at * page_size_, n * page_size_);
      }
      copier.StartWriteBack();
      if (result_ && !stop_ && ::fdatasync(writer_.fd()) != 0)
        result_ = MakeError(Code::kIo, writer_.path(),
                            std::string("cannot fsync: ") + std::strerror(errno));
    });
  }

  Result<void> Wait() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }

 private:
  const MappedFile& source_;
  bolt::Writer& writer_;
  const uint32_t page_size_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Result<void> result_;
};

// Which key-bucket records a restore keeps. --to-revision R: those at or
// below R. --mark-compacted (at the bump, above every record): what etcd
// keeps after that compaction (mvcc/key_index.go compact): of each user key
// its newest record at or below R, none when that is a tombstone (the
// key's generation ended).
class KeptRecords {
 public:
  explicit KeptRecords(const RestoreDbEdits& e)
      : to_revision_(e.to_revision), compact_(e.compact) {}

  bool filters() const { return compact_ || to_revision_ > 0; }

  // Compaction needs each key's newest record first: every leaf of the key
  // bucket is seen (Observe, in any order) before any is kept (Keep).
  void Observe(const bolt::PageView& leaf) {
    for (size_t i = 0; compact_ && i < leaf.count(); i++)
      if (auto e = leaf.Leaf(i)) Observe(e->key, e->value);  // else: the checks count it
  }
  void Observe(Bytes key, Bytes value) {
    const auto rev = Revision::Parse(key);
    const auto user_key = KeyValueUserKey(value);
    if (!compact_ || !rev || !user_key || (to_revision_ > 0 && rev->main > to_revision_)) return;
    Revision& n = newest_[*user_key];
    if (Earlier(n, *rev)) n = *rev;
  }
  void Seal() {
    for (const auto& [key, rev] : newest_)
      if (!rev.tombstone) kept_.push_back(rev);
    newest_.clear();
    std::sort(kept_.begin(), kept_.end(), Earlier);
  }

  bool Keep(const Revision& rev) const {
    if (to_revision_ > 0 && rev.main > to_revision_) return false;
    if (!compact_) return true;
    return std::binary_search(kept_.begin(), kept_.end(), rev, Earlier);
  }

 private:
  int64_t to_revision_;
  bool compact_;
  std::unordered_map<Bytes, Revision> newest_;  // user key (in the mapping) -> newest record
  std::vector<Revision> kept_;                  // compaction: the records kept, in order
};

// Writes what FileOrderCheck hands over, with the changes a restore makes
// (§5.4): leaves stay where PageCopy put them; meta is rewritten with
// consistent_index = N (and the compaction mark), alarms dropped on
// request, the bump tombstone appended to the key bucket, and key, lease
// and meta created when the source lacked them. With --to-revision or a
// compaction, a key-bucket leaf whose records are all kept is adopted as it
// is, one with none left out, and one with some written anew with those.
class RestoreVisitor : public FileOrderVisitor {
 public:
  RestoreVisitor(bolt::Writer& writer, const bolt::Reader& source, const RestoreDbEdits& edits)
      : w_(writer), r_(source), e_(edits), kept_(edits) {}

  bool ByElement(Bytes bucket) override {
    return bucket == kMetaBucket || (bucket == kAlarmBucket && e_.clear_alarms);
  }

  Result<void> OnBucketBegin(Bytes name) override {
    CPR_RETURN_IF_ERROR(EmitMissingBefore(name));
    bucket_ = std::string(name);
    return w_.BeginBucket(name);
  }

  Result<void> OnLeaf(bolt::Pgid id, uint32_t overflow, Bytes first_key, uint64_t rank) override {
    if (bucket_ != kKeyBucket || !kept_.filters())
      return w_.AdoptLeaf(id, overflow, first_key, rank);
    // Filtered: decided once every leaf was seen (OnBucketEnd).
    kept_.Observe(CPR_TRY(r_.Page(id)));
    pending_.push_back({id, overflow, rank, first_keys_.size(), first_key.size()});
    first_keys_.append(first_key);
    return {};
  }

  Result<void> OnElement(const bolt::LeafElement& e) override {
    if (bucket_ == kMetaBucket) {
      meta_[std::string(e.key)] = std::string(e.value);
      return {};
    }
    if (bucket_ == kAlarmBucket && e_.clear_alarms) {
      dropped_++;
      return {};
    }
    if (bucket_ == kKeyBucket && kept_.filters()) {  // an inline key bucket: see OnLeaf
      kept_.Observe(e.key, e.value);
      inline_.emplace_back(e.key, e.value);
      return {};
    }
    return w_.Put(e.key, e.value);
  }

  Result<void> OnBucketEnd() override {
    if (bucket_ == kKeyBucket && kept_.filters()) CPR_RETURN_IF_ERROR(KeyLeaves());
    // With a compaction there is no bump tombstone: etcd's own compaction at
    // the bump would remove it, and the store's revision comes from
    // finishedCompactRev (mvcc/kvstore.go restore: currentRev is at least
    // compactMainRev).
    if (bucket_ == kKeyBucket && e_.bump_to > 0 && !e_.compact) {
      // The tombstone that carries the bump (kBumpKey); it sorts after every
      // record: its revision is above the newest.
      bump_key_ = Revision{e_.bump_to, 0, true}.Encode();
      bump_value_.clear();
      AppendUvarint(bump_value_, (1 << 3) | 2);  // KeyValue.key, length-delimited
      AppendUvarint(bump_value_, kBumpKey.size());
      bump_value_.append(kBumpKey);
      CPR_RETURN_IF_ERROR(w_.Put(bump_key_, bump_value_));
    }
    if (bucket_ == kMetaBucket) {
      if (e_.to_revision > 0) KeepCompactionsAtOrBelow(e_.to_revision);
      std::string ci(8, '\0');
      StoreBe64(ci.data(), e_.consistent_index);  // §6.2
      meta_["consistent_index"] = ci;
      if (e_.mark_compacted) {
        const std::string rev = Revision{e_.bump_to, 0, false}.Encode();
        meta_["finishedCompactRev"] = rev;
        meta_["scheduledCompactRev"] = rev;
      }
      for (const auto& [k, v] : meta_) CPR_RETURN_IF_ERROR(w_.Put(k, v));
    }
    done_.push_back(bucket_);
    return w_.EndBucket();
  }

  // After the last bucket.
  Result<void> Finish() { return EmitMissingBefore("\xff"); }
  uint64_t dropped() const { return dropped_; }
  bool filters() const { return kept_.filters(); }
  // Key-bucket records written from the source, and the newest of them.
  uint64_t key_records() const { return key_records_; }
  int64_t newest_kept() const { return newest_kept_; }
  uint64_t left_out() const { return left_out_; }

 private:
  // Buckets etcd writes that the source lacked, before `name`: only a
  // derivable one can be missing here (the check refuses the others
  // unless repairing), and it is written empty.
  Result<void> EmitMissingBefore(Bytes name) {
    for (std::string_view b : kEtcdBuckets) {
      if (!(b < name) || std::find(done_.begin(), done_.end(), b) != done_.end()) continue;
      bucket_ = std::string(b);
      CPR_RETURN_IF_ERROR(w_.BeginBucket(b));
      CPR_RETURN_IF_ERROR(OnBucketEnd());
    }
    return {};
  }

  // The key bucket's leaves (checked: pass 1 verified their records), each
  // adopted whole, left out, or written anew with the records kept.
  Result<void> KeyLeaves() {
    kept_.Seal();
    for (const auto& [key, value] : inline_) {
      const auto rev = Revision::Parse(key);
      if (!rev || !kept_.Keep(*rev)) {
        CPR_RETURN_IF_ERROR(Left(rev));
        continue;
      }
      Count(*rev);
      CPR_RETURN_IF_ERROR(w_.Put(key, value));
    }
    inline_.clear();
    for (const PendingLeaf& l : pending_)
      CPR_RETURN_IF_ERROR(
          KeyLeaf(l.id, l.overflow, Bytes(first_keys_).substr(l.key_at, l.key_size), l.rank));
    pending_.clear();
    return {};
  }

  Result<void> KeyLeaf(bolt::Pgid id, uint32_t overflow, Bytes first_key, uint64_t rank) {
    const bolt::PageView page = CPR_TRY(r_.Page(id));
    std::vector<std::pair<Bytes, Bytes>> items;
    for (size_t i = 0; i < page.count(); i++) {
      const bolt::LeafElement e = CPR_TRY(page.Leaf(i));
      const auto rev = Revision::Parse(e.key);
      if (!rev || !kept_.Keep(*rev)) {
        CPR_RETURN_IF_ERROR(Left(rev));
        continue;
      }
      Count(*rev);
      items.emplace_back(e.key, e.value);
    }
    if (items.empty()) return {};
    if (items.size() == page.count()) return w_.AdoptLeaf(id, overflow, first_key, rank);
    return w_.NewLeaf(items, rank);
  }

  Result<void> Left(const std::optional<Revision>& rev) {
    if (!rev)  // the schema check has counted the fault
      return MakeError(Code::kCorrupt, "key bucket", "a record key that is not a revision");
    left_out_++;
    return {};
  }
  void Count(const Revision& rev) {
    key_records_++;
    newest_kept_ = std::max(newest_kept_, rev.main);
  }

  // --to-revision: a compaction scheduled above the revision restored to
  // never happened there (etcd would resume it at boot, mvcc/kvstore.go
  // restore); one finished above it is refused before the restore starts.
  void KeepCompactionsAtOrBelow(int64_t rev) {
    auto it = meta_.find("scheduledCompactRev");
    if (it == meta_.end()) return;
    const auto scheduled = Revision::Parse(it->second);
    if (!scheduled || scheduled->main <= rev) return;
    auto finished = meta_.find("finishedCompactRev");
    if (finished != meta_.end())
      it->second = finished->second;
    else
      meta_.erase(it);
  }

  bolt::Writer& w_;
  const bolt::Reader& r_;
  const RestoreDbEdits& e_;
  KeptRecords kept_;
  struct PendingLeaf {
    bolt::Pgid id;
    uint32_t overflow;
    uint64_t rank;
    size_t key_at, key_size;  // its first key, in first_keys_
  };
  std::vector<PendingLeaf> pending_;
  std::vector<std::pair<Bytes, Bytes>> inline_;  // an inline key bucket's records
  std::string first_keys_;
  std::string bucket_;
  std::vector<std::string> done_;
  std::map<std::string, std::string> meta_;
  std::string bump_key_, bump_value_;
  uint64_t dropped_ = 0;
  uint64_t key_records_ = 0;
  int64_t newest_kept_ = 0;
  uint64_t left_out_ = 0;
};

struct Join {
  std::thread& t;
  ~Join() {
    if (t.joinable()) t.join();
  }
};

Error VerificationFailed(const VerifyReport& report, const std::string& file, bool repair) {
  std::string list;
  for (const auto& f : report.faults)
    list += "\n  " + f.check + ": " + f.what + (f.repairable ? " [repairable]" : "");
  std::string hint = "use another backup";
  if (report.only_repairable() && !repair)
    hint =
        "every fault is in what bbolt derives from the records (freelist, unreferenced pages, "
        "an empty bucket), none in the records: --repair rebuilds them";
  else if (report.repairable_count > 0)
    hint = fmt::format("{} of the faults are in the data itself, which --repair cannot rebuild: {}",
                       report.data_faults(), hint);
  return MakeError(Code::kCorrupt, file,
                   fmt::format("the source fails verification ({} faults); nothing was restored:{}",
                               report.fault_count, list),
                   hint);
}

// What the new db must hold, from what was read.
struct Expected {
  uint64_t key_records = 0;
  int64_t revision = 0;
  uint64_t consistent_index = 0;
};

// Records in the tree under `page`, reading only page headers.
Result<uint64_t> CountRecords(const bolt::Reader& r, const bolt::PageView& page, int depth) {
  if (depth > 64) return MakeError(Code::kCorrupt, r.name(), "tree deeper than 64 levels");
  if (page.is_leaf()) return static_cast<uint64_t>(page.count());
  uint64_t n = 0;
  for (size_t i = 0; i < page.count(); i++) {
    auto e = CPR_TRY(page.Branch(i));
    n += CPR_TRY(CountRecords(r, CPR_TRY(r.Page(e.child)), depth + 1));
  }
  return n;
}

// Reads the new db back: a bug in the writer (or a disk that lies) must
// not commit a member that etcd would boot with less than the source had.
Result<void> CrossCheck(const std::string& path, const Expected& want) {
  auto r = CPR_TRY(bolt::Reader::Open(path));
  auto fail = [&](const std::string& what) {
    return MakeError(Code::kInternal, path,
                     "the db written does not hold what the source held: " + what,
                     "nothing was committed; report this as a bug in CPR");
  };
  std::vector<std::string> names;
  bolt::Cursor root(*r, r->root());
  for (bool ok = CPR_TRY(root.First()); ok; ok = CPR_TRY(root.Next()))
    names.emplace_back(root.element().key);
  if (!std::equal(names.begin(), names.end(), std::begin(kEtcdBuckets), std::end(kEtcdBuckets)))
    return fail(fmt::format("{} top-level buckets, not etcd's ten", names.size()));
  const bolt::BucketRef key = CPR_TRY(r->Bucket(kKeyBucket)).value();
  const uint64_t records = CPR_TRY(CountRecords(*r, CPR_TRY(r->RootPage(key)), 0));
  if (records != want.key_records)
    return fail(fmt::format("{} revisions in the key bucket, the source had {}", records,
                            want.key_records));
  bolt::Cursor last(*r, key);
  int64_t newest = 0;
  if (CPR_TRY(last.Last())) {
    auto rev = Revision::Parse(last.element().key);
    newest = rev ? rev->main : -1;
  }
  if (newest != want.revision)
    return fail(fmt::format("newest revision {}, want {}", newest, want.revision));
  const MetaInfo meta = CPR_TRY(Backend::Over(std::move(r))->Meta());
  if (meta.consistent_index != want.consistent_index)
    return fail(fmt::format("consistent index {}, want {}", meta.consistent_index.value_or(0),
                            want.consistent_index));
  return {};
}

}  // namespace

Result<RestoreDbResult> WriteRestoredDb(const Backend& source, const std::string& path,
                                        const RestoreDbEdits& edits) {
  if (edits.to_revision > 0) {
    auto at = ResolveRevision(source, edits.to_revision);  // etcd's own range: compacted..newest
    if (!at) {
      Error e = std::move(at).error();
      e.where = "--to-revision";
      return e;
    }
  }
  const bolt::Reader& r = source.reader();
  const MappedFile& file = r.file();
  const bool trailer = HasHashTrailer(file.size());
  if (!trailer && !edits.skip_hash_check)
    return MakeError(Code::kFailedPrecondition, source.name(),
                     "snapshot missing hash but --skip-hash-check=false");

  // The hashes, on a second thread while the passes run.
  TrailerCheck hashed;
  std::optional<Result<std::string>> whole_file;
  std::thread hasher;
  if (trailer && (!edits.skip_hash_check || !edits.file_sha256.empty()))
    hasher = std::thread([&] { hashed = CheckTrailer(file); });
  else if (!edits.file_sha256.empty())
    hasher = std::thread([&] { whole_file = FileSha256(file.path()); });
  Join join_hasher{hasher};

  // The new file starts as a copy of the source's pages 2..pgid-1, made in
  // the kernel on a third thread while the passes run (what etcdctl's
  // restore copies too, free pages included). The leaves keep their ids;
  // every new page (branches, rewritten buckets, the root) goes after them;
  // the source's branch and free pages become free, and bbolt computes the
  // free pages when it opens the file. Copying only the reachable pages
  // would leave holes: a sparse file that took ~1.5 s to delete here, and
  // fragments the db etcd then grows into.
  bolt::Writer::Options wo;
  wo.first_pgid = r.meta().pgid;
  wo.freelist = false;
  auto writer = CPR_TRY(bolt::Writer::Create(path, r.page_size(), wo));
  PageCopy copy(file, *writer, r.page_size());
  copy.Start(2, r.meta().pgid);
  FileOrderCheck::Options fo;
  if (edits.bump_to > 0) {
    fo.forbidden_key = std::string(kBumpKey);
    fo.forbidden_why =
        "the snapshot already holds the bump key: restore it without --bump-revision";
  }
  FileOrderCheck files(fo);
  bolt::PageIndex index = CPR_TRY(
      bolt::PageIndex::Build(r, [&](const bolt::PageView& page) { files.OnLeafPage(page); }));
  RestoreVisitor visitor(*writer, r, edits);
  Result<void> ran = files.Run(r, index, visitor);
  if (ran) ran = visitor.Finish();
  SchemaCheck& check = files.check();
  if (hasher.joinable()) hasher.join();
  if (trailer && !edits.skip_hash_check && !hashed.matches)
    check.Add("trailer", 0,
              fmt::format("SHA-256 mismatch: trailer {}, content {}", hashed.stored_hex,
                          hashed.computed_hex));

  RestoreDbResult result;
  if (check.report().fault_count > 0) {
    // The full list, from verify's tree walk: a repair must agree with it.
    VerifyReport full = FullReport(source, files, edits.skip_hash_check);
    if (!edits.repair || !full.only_repairable() || !check.report().only_repairable())
      return VerificationFailed(full, source.name(), edits.repair);
    result.repaired = full.fault_count;
    for (const auto& f : full.faults) result.repairs.push_back(f.check + ": " + f.what);
  }
  if (!ran) return ran.error();
  CPR_RETURN_IF_ERROR(copy.Wait());
  if (!edits.file_sha256.empty()) {
    const std::string got = whole_file ? CPR_TRY(std::move(*whole_file)) : hashed.file_hex;
    if (got != edits.file_sha256)
      return MakeError(
          Code::kCorrupt, source.name(),
          fmt::format("SHA-256 {} differs from the manifest's {}", got, edits.file_sha256),
          "the backup changed after it was taken: use another backup");
  }
  CPR_RETURN_IF_ERROR(writer->Finish());
  result.bytes = writer->bytes_written();
  // What the new db must hold: the key records kept (all of them unless
  // filtered), the bump tombstone, the consistent index.
  const bool tombstone = edits.bump_to > 0 && !edits.compact;
  Expected want{check.report().revisions, check.report().revision, edits.consistent_index};
  if (visitor.filters())
    want = {visitor.key_records(), visitor.newest_kept(), edits.consistent_index};
  if (tombstone) {
    want.key_records++;
    want.revision = edits.bump_to;
  }
  result.compacted_away = edits.compact ? visitor.left_out() : 0;
  result.after_revision = edits.compact ? 0 : visitor.left_out();
  result.keys = files.records() - visitor.dropped() - visitor.left_out();
  CPR_RETURN_IF_ERROR(CrossCheck(path, want));
  return result;
}

}  // namespace cpr::etcd
