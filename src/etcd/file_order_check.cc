#include "etcd/file_order_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "etcd/backend.h"
#include "etcd/records.h"
#include "etcd/revision.h"
#include "etcd/snapshot_file.h"
#include "util/text.h"

namespace cpr::etcd {

// Pass 1's summary of every leaf-looking page, checked as a page of the key
// bucket: verdict, key range, records and newest revision.
class FileOrderCheck::KeyLeaves {
 public:
  struct Leaf {
    uint64_t keys_at = 0;  // first then last key, in the arena
    uint32_t first_size = 0, last_size = 0;
    uint32_t overflow = 0;
    uint16_t count = 0;
    bool ok = false;
    int64_t newest = 0;  // main revision of the last record
  };

  explicit KeyLeaves(std::string forbidden) : forbidden_(std::move(forbidden)), probe_(1) {
    probe_.OnBucketBegin(1, kKeyBucket, bolt::BucketRef{});
  }

  void Add(const bolt::PageView& page) {
    Leaf s;
    s.overflow = page.overflow();
    s.count = page.count();
    const uint64_t faults = probe_.report().fault_count;
    probe_.StartLeaf();
    s.ok = static_cast<bool>(page.CheckElementArray());
    Bytes first, previous;
    for (size_t i = 0; s.ok && i < page.count(); i++) {
      auto e = page.Leaf(i);
      s.ok = e && !e->is_bucket() && (i == 0 || previous < e->key);
      if (!s.ok) break;
      if (i == 0) first = e->key;
      previous = e->key;
      probe_.OnElement(1, *e);
      if (!forbidden_.empty() && KeyValueUserKey(e->value) == Bytes(forbidden_)) s.ok = false;
    }
    s.ok = s.ok && probe_.report().fault_count == faults;
    s.keys_at = arena_.size();
    if (s.ok && s.count > 0) {
      s.first_size = static_cast<uint32_t>(first.size());
      s.last_size = static_cast<uint32_t>(previous.size());
      arena_.append(first);
      arena_.append(previous);
      if (auto rev = Revision::Parse(previous)) s.newest = rev->main;
    }
    if (page.id() >= slot_.size()) slot_.resize(page.id() + 1, kNone);
    slot_[page.id()] = static_cast<uint32_t>(leaves_.size());
    leaves_.push_back(s);
  }

  const Leaf* Find(bolt::Pgid id) const {
    return id < slot_.size() && slot_[id] != kNone ? &leaves_[slot_[id]] : nullptr;
  }
  Bytes First(const Leaf& l) const { return Bytes(arena_).substr(l.keys_at, l.first_size); }
  Bytes Last(const Leaf& l) const {
    return Bytes(arena_).substr(l.keys_at + l.first_size, l.last_size);
  }

 private:
  static constexpr uint32_t kNone = ~uint32_t{0};
  std::string forbidden_;
  std::vector<uint32_t> slot_;  // page id -> index in leaves_
  std::vector<Leaf> leaves_;
  std::string arena_;
  SchemaCheck probe_;  // its faults only say "this page is bad"
};

namespace {

// A top-level bucket as the root bucket lists it (owned: pages come and go).
struct TopBucket {
  std::string name;
  std::string value;
  bolt::Pgid page = 0;  // the root-bucket leaf holding it
};

// First and last key of every leaf of one bucket, by rank, to check key
// order across leaves that arrive in file order.
class LeafBounds {
 public:
  explicit LeafBounds(size_t leaves) : spans_(leaves) {}
  void Set(size_t rank, Bytes first, Bytes last) {
    spans_[rank] = {keys_.size(), first.size(), last.size(), true};
    keys_.append(first);
    keys_.append(last);
  }
  // The rank of the first leaf whose first key is not after the previous
  // leaf's last key, if any.
  std::optional<size_t> FirstDisorder() const {
    std::optional<size_t> previous;
    for (size_t i = 0; i < spans_.size(); i++) {
      if (!spans_[i].set) continue;
      if (previous && !(Last(*previous) < First(i))) return i;
      previous = i;
    }
    return std::nullopt;
  }

 private:
  struct Span {
    size_t at = 0, first_size = 0, last_size = 0;
    bool set = false;
  };
  Bytes First(size_t i) const { return Bytes(keys_).substr(spans_[i].at, spans_[i].first_size); }
  Bytes Last(size_t i) const {
    return Bytes(keys_).substr(spans_[i].at + spans_[i].first_size, spans_[i].last_size);
  }
  std::vector<Span> spans_;
  std::string keys_;
};

}  // namespace

class FileOrderCheck::Pass2 {
 public:
  Pass2(FileOrderCheck& owner, const bolt::Reader& reader, bolt::PageIndex& index,
        FileOrderVisitor& visitor)
      : o_(owner), check_(owner.check_), r_(reader), index_(index), v_(visitor) {}

  Result<void> Run() {
    std::vector<TopBucket> buckets;
    ReadRoot(buckets);
    std::vector<Planned> plan;
    for (const TopBucket& b : buckets) PlanBucket(b, plan);
    for (const Planned& b : plan) CPR_RETURN_IF_ERROR(Bucket(b));
    for (auto& f : tree_faults_) check_.Add("bolt", 0, std::move(f));
    std::vector<std::string> freelist_faults;
    index_.CheckFreelist(r_, freelist_faults);
    for (auto& f : freelist_faults) check_.Add("bolt", 0, std::move(f), /*repairable=*/true);
    check_.Finish();
    return {};
  }

 private:
  // A top-level bucket, and how it goes to the visitor.
  struct Planned {
    std::string name;
    bolt::BucketRef ref;             // views into the TopBucket's value
    bool by_element = false;         // else whole leaves
    std::vector<bolt::Pgid> leaves;  // whole leaves: in key order
  };

  void Fault(bolt::Pgid page, const std::string& what) {
    check_.Add("bolt", page, fmt::format("page {}: {}", page, what));
  }
  // No fault in the data: the visitor goes on (a repair needs every leaf).
  bool Clean() const { return check_.report().data_faults() == 0; }

  // The root bucket's leaves: every element must be a bucket (§1.8).
  void ReadRoot(std::vector<TopBucket>& out) {
    std::vector<bolt::Pgid> leaves;
    index_.Leaves(r_.meta().root, leaves, tree_faults_);
    Bytes last;
    bool has_last = false;
    for (bolt::Pgid id : leaves) {
      auto page = r_.Page(id);
      if (!page) {
        Fault(id, page.error().what);
        continue;
      }
      ForEachElement(*page, last, has_last, [&](const bolt::LeafElement& e) {
        if (!e.is_bucket())
          return Fault(id,
                       fmt::format("root bucket element '{}' is not a bucket", Printable(e.key)));
        out.push_back({std::string(e.key), std::string(e.value), id});
      });
    }
  }

  void PlanBucket(const TopBucket& b, std::vector<Planned>& plan) {
    if (!plan.empty() && !(Bytes(plan.back().name) < Bytes(b.name))) {
      Fault(b.page, fmt::format("bucket '{}' is not after the previous bucket", Printable(b.name)));
      return;
    }
    auto ref = bolt::ParseBucketValue(b.value, "bucket '" + Printable(b.name) + "'");
    if (!ref) {
      Fault(b.page, ref.error().what);
      return;
    }
    Planned p{b.name, *ref, ref->is_inline() || v_.ByElement(b.name), {}};
    if (!p.by_element) index_.Leaves(ref->root, p.leaves, tree_faults_);
    plan.push_back(std::move(p));
  }

  Result<void> Bucket(const Planned& b) {
    check_.OnBucketBegin(1, b.name, b.ref);
    bucket_ = b.name;
    CPR_RETURN_IF_ERROR(v_.OnBucketBegin(b.name));
    if (b.by_element)
      CPR_RETURN_IF_ERROR(Elements(b.ref));
    else if (b.name == kKeyBucket)
      CPR_RETURN_IF_ERROR(KeyLeaves(b.leaves));
    else
      CPR_RETURN_IF_ERROR(Leaves(b.leaves));
    return v_.OnBucketEnd();
  }

  // Checks `page` as a leaf and hands each element to `fn`, keys strictly
  // ascending after `last`. Returns false (fault recorded) if the page is
  // unusable.
  template <typename Fn>
  bool ForEachElement(const bolt::PageView& page, Bytes& last, bool& has_last, Fn fn) {
    const bolt::Pgid id = page.is_inline() ? 0 : page.id();
    if (!page.is_leaf()) {
      Fault(id, "invalid type: " + bolt::PageTypeName(page.flags()) + ", want a leaf");
      return false;
    }
    if (auto ok = page.CheckElementArray(); !ok) {
      Fault(id, ok.error().what);
      return false;
    }
    for (size_t i = 0; i < page.count(); i++) {
      auto e = page.Leaf(i);
      if (!e) {
        Fault(id, e.error().what);
        return false;
      }
      if (has_last && !(last < e->key))
        Fault(id, fmt::format("leaf element {}: key is not after the previous key", i));
      last = e->key;
      has_last = true;
      fn(*e);
    }
    return true;
  }

  // What every record of a top-level bucket read here goes through.
  void CheckRecord(bolt::Pgid page, const bolt::LeafElement& e) {
    if (e.is_bucket()) {
      check_.Add("schema", page,
                 fmt::format("nested bucket '{}': etcd never creates one", Printable(e.key)));
      return;
    }
    check_.OnElement(1, e);
    o_.records_++;
    if (bucket_ == kKeyBucket && !o_.options_.forbidden_key.empty() &&
        KeyValueUserKey(e.value) == Bytes(o_.options_.forbidden_key))
      check_.Add("schema", page, o_.options_.forbidden_why);
  }

  // The key bucket: its leaves were checked in pass 1.
  Result<void> KeyLeaves(const std::vector<bolt::Pgid>& leaves) {
    const KeyLeaves::Leaf* previous = nullptr;
    VerifyReport& report = check_.report();
    for (size_t rank = 0; rank < leaves.size(); rank++) {
      const bolt::Pgid id = leaves[rank];
      const KeyLeaves::Leaf* leaf = o_.key_leaves_->Find(id);
      if (leaf == nullptr || !leaf->ok) {
        Fault(id, leaf == nullptr ? "not a leaf page" : "a bad leaf of the key bucket");
        continue;
      }
      if (leaf->count == 0) continue;  // an emptied leaf
      if (previous && !(o_.key_leaves_->Last(*previous) < o_.key_leaves_->First(*leaf)))
        Fault(id, "first key is not after the previous leaf's last key");
      previous = leaf;
      o_.records_ += leaf->count;
      report.revisions += leaf->count;
      report.revision = std::max(report.revision, leaf->newest);
      if (Clean())
        CPR_RETURN_IF_ERROR(v_.OnLeaf(id, leaf->overflow, o_.key_leaves_->First(*leaf), rank));
    }
    return {};
  }

  // Another bucket's leaves, read in file order and checked record by record.
  Result<void> Leaves(std::vector<bolt::Pgid> leaves) {
    std::vector<std::pair<bolt::Pgid, size_t>> by_id(leaves.size());
    for (size_t i = 0; i < leaves.size(); i++) by_id[i] = {leaves[i], i};
    std::sort(by_id.begin(), by_id.end());
    for (size_t i = 0; i < leaves.size(); i++) leaves[i] = by_id[i].first;
    LeafBounds bounds(leaves.size());
    size_t next = 0;
    CPR_RETURN_IF_ERROR(
        bolt::PageIndex::ReadPages(r_, leaves, [&](const bolt::PageView& page) -> Result<void> {
          const size_t rank = by_id[next++].second;
          check_.OnPage(page, 1);
          Bytes last, first;
          bool has_last = false;
          if (!ForEachElement(page, last, has_last, [&](const bolt::LeafElement& e) {
                if (first.empty()) first = e.key;
                CheckRecord(page.id(), e);
              }))
            return {};
          if (page.count() == 0) return {};  // an emptied leaf
          bounds.Set(rank, first, last);
          if (!Clean()) return {};
          return v_.OnLeaf(page.id(), page.overflow(), first, rank);
        }));
    if (auto rank = bounds.FirstDisorder())
      check_.Add("bolt", 0,
                 fmt::format("bucket '{}': leaf {} in key order starts before the previous leaf "
                             "ends",
                             Printable(bucket_), *rank));
    return {};
  }

  // Element by element, in key order.
  Result<void> Elements(const bolt::BucketRef& ref) {
    Bytes last;
    bool has_last = false;
    Result<void> visited;
    auto each = [&](bolt::Pgid page) {
      return [&, page](const bolt::LeafElement& e) {
        CheckRecord(page, e);
        if (!e.is_bucket() && visited) visited = v_.OnElement(e);
      };
    };
    if (ref.is_inline()) {
      bolt::PageView page(ref.inline_page, &r_.name(), 0, true);
      ForEachElement(page, last, has_last, each(0));
    } else {
      std::vector<bolt::Pgid> leaves;
      index_.Leaves(ref.root, leaves, tree_faults_);
      for (bolt::Pgid id : leaves) {
        auto page = r_.Page(id);
        if (!page) {
          Fault(id, page.error().what);
          continue;
        }
        check_.OnPage(*page, 1);
        ForEachElement(*page, last, has_last, each(id));
      }
    }
    return Clean() ? visited : Result<void>();
  }

  FileOrderCheck& o_;
  SchemaCheck& check_;
  const bolt::Reader& r_;
  bolt::PageIndex& index_;
  FileOrderVisitor& v_;
  std::vector<std::string> tree_faults_;
  std::string bucket_;
};

FileOrderCheck::FileOrderCheck(Options options)
    : options_(std::move(options)),
      key_leaves_(std::make_unique<KeyLeaves>(options_.forbidden_key)),
      check_(options_.max_faults) {}

FileOrderCheck::~FileOrderCheck() = default;

void FileOrderCheck::OnLeafPage(const bolt::PageView& page) { key_leaves_->Add(page); }

Result<void> FileOrderCheck::Run(const bolt::Reader& r, bolt::PageIndex& index,
                                 FileOrderVisitor& visitor) {
  VerifyReport& report = check_.report();
  report.pages = r.meta().pgid;
  report.trailer_present = HasHashTrailer(r.file().size());
  if (!r.meta_fault().empty()) check_.Add("bolt", r.meta_page() == 0 ? 1 : 0, r.meta_fault());
  // A snapshot is exactly its pages plus the trailer (§3.1).
  if (report.trailer_present && r.file().size() != r.meta().pgid * r.page_size() + kTrailerSize)
    check_.Add(
        "bolt", 0,
        fmt::format("{} bytes, but {} pages of {} plus the trailer make {}", r.file().size(),
                    r.meta().pgid, r.page_size(), r.meta().pgid * r.page_size() + kTrailerSize));
  return Pass2(*this, r, index, visitor).Run();
}

VerifyReport FullReport(const Backend& backend, FileOrderCheck& check, bool skip_hash_check) {
  VerifyOptions vo;
  vo.skip_hash_check = skip_hash_check;
  SchemaCheck full(50);
  VerifyReport report = VerifyOpened(backend, vo, full);
  return report.ok() ? check.check().report() : report;
}

}  // namespace cpr::etcd
