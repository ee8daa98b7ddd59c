// PageIndex: what every page of a bbolt file looks like, learned in one
// sequential pass of large reads, and the trees rebuilt from it.
//
// Walking a B+tree touches its pages in key order, which on a big snapshot
// is random file order: one page fault (or one small read) per page, about
// 2.5 us each here, 1.2 s for 2 GB before any work. Reading the file front
// to back in 8 MB pread()s costs 0.2 s for the same 2 GB, and the cache
// stays out of our RSS. So commands that visit every leaf (status, get) scan
// the file in file order, note each page's header (and branch children),
// let the caller summarise leaf-looking pages as they stream by, and only
// then walk the trees through this index to learn which pages are reachable
// and in what order. Free pages hold stale but valid-looking pages
// (etcd-formats.md §1.1): summaries of unreachable pages are simply unused.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "bolt/reader.h"

namespace cpr::bolt {

class PageIndex {
 public:
  // Reads pages 2 .. pgid-1 in file order. `on_leaf` sees every page whose
  // header says leaf (a view valid only during the call, spanning its
  // overflow pages). Pages are not validated here beyond their bounds.
  static Result<PageIndex> Build(const Reader& reader,
                                 const std::function<void(const PageView&)>& on_leaf);

  // The same pass on `parts` threads, each over its own contiguous range of
  // pages (status uses two: the per-leaf work is most of its time).
  // on_leaf(page, part) runs concurrently for different parts, never twice
  // at once for one part. part(id) says which part saw page `id`.
  static Result<PageIndex> BuildInParts(const Reader& reader, int parts,
                                        const std::function<void(const PageView&, int)>& on_leaf);
  int part(Pgid id) const;

  // The leaves of the tree rooted at `root`, in key order, appended to
  // `leaves`. Every page entered is marked reachable; faults (bad type,
  // out of bounds, a page referenced twice, a bad branch) are appended to
  // `faults` as "page N: ..." and the subtree skipped.
  void Leaves(Pgid root, std::vector<Pgid>& leaves, std::vector<std::string>& faults);

  // With a synced freelist (§1.9.1), after every tree was walked with
  // Leaves(): each page must be reachable or free, not both, not neither.
  void CheckFreelist(const Reader& reader, std::vector<std::string>& faults) const;

  // Reads the pages `ids` (ascending) front to back with large reads and
  // hands each to `fn` (a view valid during the call, with its overflow).
  static Result<void> ReadPages(const Reader& reader, std::span<const Pgid> ids,
                                const std::function<Result<void>(const PageView&)>& fn);

  // The leaves of the tree under `root`, ascending by id, learned from its
  // branch pages alone, read where they lie (a 2 GB snapshot's key bucket
  // has ~2k of them against ~150k leaves, and ~25 % of its pages are free:
  // no need to read the whole file to tell them apart). bbolt keeps every
  // leaf of a tree at the same depth, so the children of the lowest branch
  // level are the leaves: the caller checks that each page it then reads is
  // one. A fault (a page of the wrong type or out of bounds, branch keys
  // out of order, a page referenced twice, depth) is an error naming it.
  static Result<std::vector<Pgid>> TreeLeaves(const Reader& reader, Pgid root);

  uint16_t flags(Pgid id) const { return pages_[id].flags; }
  uint32_t overflow(Pgid id) const { return pages_[id].overflow; }
  uint64_t reachable_pages() const { return reachable_count_; }
  uint64_t branch_pages_reached() const { return branches_reached_; }

 private:
  friend class PageIndexStream;
  explicit PageIndex(Pgid pgid);
  // Pass 1 steps. NoteHeader: page `id`'s header; true when it starts a
  // branch or leaf, whose span then goes to NoteSpan.
  bool NoteHeader(Pgid id, const char* header);
  void NoteSpan(const PageView& view, const std::function<void(const PageView&)>& on_leaf);
  void NoteSpanInto(const PageView& view, const std::function<void(const PageView&)>& on_leaf,
                    std::vector<Pgid>& children);
  Result<void> ScanRange(const Reader& reader, Pgid begin, Pgid end,
                         const std::function<void(const PageView&)>& on_leaf,
                         std::vector<Pgid>& children);

  struct PageInfo {
    uint16_t flags = 0;
    uint32_t overflow = 0;
    uint32_t children_begin = 0, children_end = 0;  // into children_, for branch pages
    bool bad_branch = false;
  };
  Pgid pgid_ = 0;
  std::vector<PageInfo> pages_;
  std::vector<Pgid> children_;
  std::vector<Pgid> part_starts_{2};
  std::vector<bool> reachable_;
  uint64_t reachable_count_ = 2;
  uint64_t branches_reached_ = 0;
};

// Pass 1 over bytes that arrive in file order (a snapshot being
// received): Push() them as they come (on_leaf sees leaf pages as their
// spans complete), then Finish() with a Reader over the file they were
// written to, which names the truth (its meta) and serves what the
// window could not hold (spans over 64 MB). Memory: the window, a few MB.
// `max_bytes`: the stream's announced size; metas claiming more pages make
// Finish() read the file instead.
class PageIndexStream {
 public:
  PageIndexStream(std::function<void(const PageView&)> on_leaf, uint64_t max_bytes);
  void Push(Bytes data);
  Result<PageIndex> Finish(const Reader& reader);

 private:
  static constexpr uint64_t kMaxWindow = 64ULL << 20;
  bool Start();
  void Drain();

  std::function<void(const PageView&)> on_leaf_;
  uint64_t max_bytes_;
  PageIndex index_{0};
  bool started_ = false, failed_ = false;
  uint32_t page_size_ = 0;
  std::string window_;     // the stream's bytes from page window_first_ on
  Pgid window_first_ = 0;  // page of window_[0]
  Pgid next_ = 2;          // next page start to look at
  std::vector<Pgid> later_;
  std::string name_ = "snapshot stream";
};

}  // namespace cpr::bolt
