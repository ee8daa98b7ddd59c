#include "etcd/status.h"

#include <fmt/format.h>

#include "bolt/check.h"
#include "etcd/live_keys.h"
#include "etcd/snapshot_file.h"
#include "util/pipelined_crc.h"

namespace cpr::etcd {
namespace {

// One walk: etcdctl's hash (§4.1 step 5), page and bucket statistics, live keys.
class StatusVisitor : public bolt::WalkVisitor {
 public:
  explicit StatusVisitor(Status& s) : s_(s) {}

  void OnBucketBegin(int depth, Bytes name, const bolt::BucketRef& ref) override {
    if (depth != 1) return;
    hash_.Add(name);
    s_.buckets.push_back(BucketStats{std::string(name), 0, 0, ref.is_inline(), 0, 0, 0});
    in_key_bucket_ = name == kKeyBucket;
  }

  void OnPage(const bolt::PageView& page, int depth) override {
    if (depth >= 1 && !s_.buckets.empty()) {
      BucketStats& b = s_.buckets.back();
      (page.is_branch() ? b.branch_pages : b.leaf_pages)++;
      b.overflow_pages += page.overflow();
    }
    (page.is_branch() ? s_.branch_pages : s_.leaf_pages)++;
    s_.overflow_pages += page.overflow();
    s_.tree_bytes += page.bytes().size();
    s_.used_bytes += UsedBytes(page);
  }

  void OnElement(int depth, const bolt::LeafElement& e) override {
    if (depth != 1) return;
    // A nested bucket's value counts as nil (§1.8): only its key is hashed.
    // Otherwise key and value are adjacent in the page (§1.6): one span.
    if (e.is_bucket()) {
      hash_.Add(e.key);
    } else if (e.key.data() + e.key.size() == e.value.data()) {
      hash_.Add(Bytes(e.key.data(), e.key.size() + e.value.size()));
    } else {
      hash_.Add(e.key);
      hash_.Add(e.value);
    }
    s_.total_key++;
    BucketStats& b = s_.buckets.back();
    b.keys++;
    b.bytes += e.key.size() + e.value.size();
    if (!in_key_bucket_) return;
    auto rev = Revision::Parse(e.key);
    if (!rev) {
      bad_key_ = fmt::format("key bucket holds a {}-byte key, not a revision", e.key.size());
      return;
    }
    s_.revision = rev->main;
    auto user_key = KeyValueUserKey(e.value);
    if (user_key) live_.Add(*user_key, rev->tombstone);
  }

  bool OnFault(const bolt::Fault& f) override {
    faults_.push_back(f.ToString());
    return faults_.size() < 5;
  }

  uint32_t hash() { return hash_.Finish(); }
  std::optional<uint64_t> live_keys() const { return live_.count(); }
  const std::vector<std::string>& faults() const { return faults_; }
  const std::string& bad_key() const { return bad_key_; }

 private:
  // Bytes up to the end of the last element's data (bbolt packs them).
  static uint64_t UsedBytes(const bolt::PageView& page) {
    const size_t n = page.count();
    if (n == 0) return bolt::kPageHeaderSize;
    if (page.is_leaf()) {
      auto e = page.Leaf(n - 1);
      return e ? static_cast<uint64_t>(e->value.data() + e->value.size() - page.bytes().data()) : 0;
    }
    auto e = page.Branch(n - 1);
    return e ? static_cast<uint64_t>(e->key.data() + e->key.size() - page.bytes().data()) : 0;
  }

  Status& s_;
  PipelinedCrc32c hash_;
  bool in_key_bucket_ = false;
  LiveKeyCounter live_;
  std::vector<std::string> faults_;
  std::string bad_key_;
};

}  // namespace

Result<Status> ComputeStatus(const Backend& backend) {
  const bolt::Reader& r = backend.reader();
  Status s;
  s.page_size = r.page_size();
  s.txid = r.meta().txid;
  s.total_size = r.meta().pgid * r.page_size();
  s.has_trailer = HasHashTrailer(r.file().size());
  StatusVisitor v(s);
  bolt::WalkSummary summary = bolt::Walk(r, v);
  if (!v.faults().empty()) {
    std::string list;
    for (const auto& f : v.faults()) list += "\n  " + f;
    return MakeError(
        Code::kCorrupt, backend.name(),
        fmt::format("structure check failed{}{}", summary.stopped ? " (first faults)" : "", list),
        "run `cpr snapshot verify` for every fault");
  }
  if (!v.bad_key().empty()) return MakeError(Code::kCorrupt, backend.name(), v.bad_key());
  s.hash = v.hash();
  s.live_keys = v.live_keys();
  s.free_pages = summary.free_pages;

  MetaInfo meta = CPR_TRY(backend.Meta());
  s.consistent_index = meta.consistent_index;
  s.compact_revision = meta.finished_compact;
  s.scheduled_compact_revision = meta.scheduled_compact;
  s.cluster_version = CPR_TRY(backend.ClusterVersion());
  s.members = CPR_TRY(backend.Members());
  s.alarms = CPR_TRY(backend.Alarms());
  s.auth = CPR_TRY(backend.Auth());
  s.leases = CPR_TRY(backend.Leases()).size();
  return s;
}

}  // namespace cpr::etcd
