#include "bolt/check.h"

#include <fmt/format.h>

namespace cpr::bolt {

std::string Fault::ToString() const {
  std::string out = page != 0 ? fmt::format("page {}", page) : std::string("file");
  if (path.size() > 1) {
    out += " via ";
    for (size_t i = 0; i < path.size(); i++) out += fmt::format("{}{}", i ? ">" : "", path[i]);
  }
  return out + ": " + what;
}

namespace {

constexpr int kMaxDepth = 64;

class Walker {
 public:
  Walker(const Reader& reader, WalkVisitor& visitor)
      : r_(reader), v_(visitor), pgid_(reader.meta().pgid), reachable_(pgid_), free_(pgid_) {}

  WalkSummary Run() {
    reachable_[0] = reachable_[1] = true;
    summary_.reachable_pages = 2;
    ReadFreelist();
    if (!stop_) WalkBucket(r_.root(), 0, Bytes());
    if (!stop_ && synced_freelist_) {
      // §1.12 step 4: with a real freelist, every page is reachable or free.
      for (Pgid id = 2; id < pgid_ && !stop_; id++)
        if (!reachable_[id] && !free_[id]) ReportDerivable(id, "unreachable unfreed");
    }
    if (!synced_freelist_) summary_.free_pages = pgid_ - summary_.reachable_pages;
    summary_.stopped = stop_;
    return summary_;
  }

 private:
  void Report(Pgid page, std::string what) {
    summary_.faults++;
    Fault f{page, path_, std::move(what)};
    if (!v_.OnFault(f)) stop_ = true;
  }
  // A fault of the freelist only (Fault::derivable).
  void ReportDerivable(Pgid page, std::string what) {
    summary_.faults++;
    Fault f{page, path_, std::move(what), true};
    if (!v_.OnFault(f)) stop_ = true;
  }
  void Report(const Error& e, Pgid page) {
    // Inline pages have no id: name the bucket that holds them.
    Report(page, page == 0 && !inline_bucket_.empty()
                     ? fmt::format("inline page of bucket '{}': {}", inline_bucket_, e.what)
                     : e.what);
  }

  // §1.9.1: the freelist page, when the meta names one.
  void ReadFreelist() {
    const Pgid fl = r_.meta().freelist;
    if (fl == kNoFreelist) return;
    synced_freelist_ = true;
    auto page = r_.Page(fl);
    if (!page) return ReportDerivable(fl, "the meta's freelist page: " + page.error().what);
    if ((page->flags() & kFreelistPage) == 0)
      return ReportDerivable(fl, "meta names it as the freelist, but it is a " +
                                     PageTypeName(page->flags()) + " page");
    for (Pgid id = fl; id <= fl + page->overflow(); id++) reachable_[id] = true;
    summary_.reachable_pages += page->overflow() + 1;
    auto ids = FreelistIds(*page);
    if (!ids) return ReportDerivable(fl, ids.error().what);
    for (Pgid id : *ids) {
      if (id < 2 || id >= pgid_) {
        ReportDerivable(fl, fmt::format("free id {} outside 2..{}", id, pgid_ - 1));
      } else if (free_[id]) {
        ReportDerivable(id, "already freed");
      } else {
        free_[id] = true;
        summary_.free_pages++;
      }
      if (stop_) return;
    }
  }

  // Walks the tree of one bucket; depth 0 is the root bucket.
  void WalkBucket(const BucketRef& ref, int depth, Bytes name) {
    if (depth > kMaxDepth) return Report(0, "buckets nested deeper than 64 levels");
    if (depth > 0) v_.OnBucketBegin(depth, name, ref);
    BucketState state;
    if (ref.is_inline()) {
      PageView page(ref.inline_page, &r_.name(), 0, true);
      inline_bucket_ = std::string(name);
      if (!page.is_leaf() || page.is_branch()) {
        Report(0, fmt::format("bucket '{}': inline page is a {} page, not a leaf", name,
                              PageTypeName(page.flags())));
      } else {
        WalkLeaf(page, depth, state);
      }
      inline_bucket_.clear();
    } else {
      WalkPage(ref.root, depth, state, 0);
    }
    // Nested buckets are walked after their parent's pages, as bbolt does.
    for (const auto& [child_name, child] : state.children) {
      if (stop_) break;
      WalkBucket(child, depth + 1, child_name);
    }
    if (depth > 0) v_.OnBucketEnd(depth);
  }

  struct BucketState {
    Bytes last_key;
    bool has_last = false;
    std::vector<std::pair<Bytes, BucketRef>> children;
  };

  void WalkPage(Pgid id, int depth, BucketState& state, int level) {
    if (stop_) return;
    if (level > kMaxDepth) return Report(id, "tree deeper than 64 levels");
    // A bad reference is the fault of the page holding it.
    const Pgid parent = path_.empty() ? 0 : path_.back();
    if (id >= pgid_)
      return Report(
          parent, fmt::format("references page {}: out of bounds (high-water mark {})", id, pgid_));
    if (id < 2) return Report(parent, fmt::format("references meta page {} as a tree page", id));
    path_.push_back(id);
    VisitPage(id, depth, state, level);
    path_.pop_back();
  }

  void VisitPage(Pgid id, int depth, BucketState& state, int level) {
    auto page = r_.Page(id);
    if (!page) return Report(page.error(), id);
    const Pgid last = id + page->overflow();
    for (Pgid p = id; p <= last; p++) {
      if (reachable_[p]) return Report(p, "multiple references");
      reachable_[p] = true;
    }
    summary_.reachable_pages += last - id + 1;
    // The freelist lies, not necessarily the page: walk it anyway, so its
    // records are checked like any other (a repair keeps them).
    if (free_[id]) ReportDerivable(id, "reachable freed");
    if (!page->is_branch() && !page->is_leaf())
      return Report(id, "invalid type: " + PageTypeName(page->flags()));
    if (auto ok = page->CheckElementArray(); !ok) return Report(ok.error(), id);
    v_.OnPage(*page, depth);
    if (page->is_leaf()) return WalkLeaf(*page, depth, state);
    if (page->count() == 0) return Report(id, "branch page with no elements");
    Bytes previous;
    for (size_t i = 0; i < page->count() && !stop_; i++) {
      auto e = page->Branch(i);
      if (!e) return Report(e.error(), id);
      if (i > 0 && !(previous < e->key))
        Report(id, fmt::format("branch element {}: key is not after the previous key", i));
      previous = e->key;
      WalkPage(e->child, depth, state, level + 1);
    }
  }

  void WalkLeaf(const PageView& page, int depth, BucketState& state) {
    const Pgid id = page.is_inline() ? 0 : page.id();
    if (page.is_inline()) {
      if (auto ok = page.CheckElementArray(); !ok) return Report(ok.error(), id);
    }
    for (size_t i = 0; i < page.count() && !stop_; i++) {
      auto e = page.Leaf(i);
      if (!e) return Report(e.error(), id);
      if (state.has_last && !(state.last_key < e->key))
        Report(id, fmt::format("leaf element {}: key is not after the previous key", i));
      state.last_key = e->key;
      state.has_last = true;
      if (depth == 0 && !e->is_bucket()) {
        Report(id, fmt::format("root bucket element '{}' is not a bucket", e->key));
        continue;
      }
      v_.OnElement(depth, *e);
      if (e->is_bucket()) {
        auto ref = ParseBucketValue(e->value, "bucket '" + std::string(e->key) + "'");
        if (!ref) {
          Report(ref.error(), id);
          continue;
        }
        state.children.emplace_back(e->key, *ref);
      }
    }
  }

  const Reader& r_;
  WalkVisitor& v_;
  const Pgid pgid_;
  std::vector<bool> reachable_;
  std::vector<bool> free_;
  std::vector<Pgid> path_;
  bool synced_freelist_ = false;
  std::string inline_bucket_;  // the inline bucket being walked, for messages
  bool stop_ = false;
  WalkSummary summary_;
};

class CollectFaults : public WalkVisitor {
 public:
  explicit CollectFaults(size_t limit) : limit_(limit) {}
  bool OnFault(const Fault& f) override {
    faults.push_back(f);
    return faults.size() < limit_;
  }
  std::vector<Fault> faults;

 private:
  size_t limit_;
};

}  // namespace

WalkSummary Walk(const Reader& reader, WalkVisitor& visitor) {
  return Walker(reader, visitor).Run();
}

std::vector<Fault> Check(const Reader& reader, size_t limit) {
  CollectFaults collect(limit);
  Walk(reader, collect);
  return std::move(collect.faults);
}

}  // namespace cpr::bolt
