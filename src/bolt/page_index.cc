#include "bolt/page_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>

#include "bolt/meta.h"

namespace cpr::bolt {
namespace {
constexpr uint64_t kReadChunk = 2ULL << 20;
constexpr uint64_t kReadSpanMax = 16ULL << 20;
constexpr int kMaxDepth = 64;
}  // namespace

PageIndex::PageIndex(Pgid pgid) : pgid_(pgid), pages_(pgid), reachable_(pgid, false) {
  if (pgid >= 2) reachable_[0] = reachable_[1] = true;
}

bool PageIndex::NoteHeader(Pgid id, const char* header) {
  PageInfo& info = pages_[id];
  info.flags = LoadLe16(header + 8);
  info.overflow = LoadLe32(header + 12);
  if (LoadLe64(header) != id || id + info.overflow >= pgid_) {
    info.flags = 0;  // not a page start (stale or overflow data): never valid in a tree
    return false;
  }
  return (info.flags & (kBranchPage | kLeafPage)) != 0;
}

void PageIndex::NoteSpan(const PageView& view,
                         const std::function<void(const PageView&)>& on_leaf) {
  NoteSpanInto(view, on_leaf, children_);
}

void PageIndex::NoteSpanInto(const PageView& view,
                             const std::function<void(const PageView&)>& on_leaf,
                             std::vector<Pgid>& children) {
  if (!view.is_branch()) return on_leaf(view);
  PageInfo& info = pages_[view.id()];
  info.children_begin = static_cast<uint32_t>(children.size());
  if (!view.CheckElementArray()) {
    info.bad_branch = true;
  } else {
    Bytes previous;
    for (size_t e = 0; e < view.count(); e++) {
      auto el = view.Branch(e);
      // Keys strictly ascending, as bbolt's search over them requires.
      if (!el || (e > 0 && !(previous < el->key))) {
        info.bad_branch = true;
        break;
      }
      previous = el->key;
      children.push_back(el->child);
    }
  }
  info.children_end = static_cast<uint32_t>(children.size());
}

Result<PageIndex> PageIndex::Build(const Reader& reader,
                                   const std::function<void(const PageView&)>& on_leaf) {
  return BuildInParts(reader, 1, [&](const PageView& page, int) { on_leaf(page); });
}

Result<void> PageIndex::ScanRange(const Reader& reader, Pgid begin, Pgid end,
                                  const std::function<void(const PageView&)>& on_leaf,
                                  std::vector<Pgid>& children) {
  const uint64_t ps = reader.page_size();
  const MappedFile& file = reader.file();
  const uint64_t pages_per_chunk = kReadChunk / ps;
  if (end <= begin) return {};
  // Sized to the range, not filled: a small file costs no 2 MB buffer.
  auto buf =
      std::make_unique_for_overwrite<char[]>(std::min<uint64_t>(pages_per_chunk, end - begin) * ps);
  for (Pgid first = begin; first < end; first += pages_per_chunk) {
    const uint64_t n = std::min<uint64_t>(pages_per_chunk, end - first);
    CPR_RETURN_IF_ERROR(file.ReadAt(first * ps, buf.get(), n * ps));
    for (uint64_t i = 0; i < n; i++) {
      const Pgid id = first + i;
      const char* p = buf.get() + i * ps;
      if (!NoteHeader(id, p)) continue;
      const uint32_t overflow = pages_[id].overflow;
      // The whole span: in the buffer when it fits, else through the mapping.
      if (i + overflow < n) {
        NoteSpanInto(PageView(Bytes(p, (uint64_t{overflow} + 1) * ps), &reader.name(), id, false),
                     on_leaf, children);
      } else if (auto mapped = reader.Page(id)) {
        NoteSpanInto(*mapped, on_leaf, children);
      } else {
        pages_[id].flags = 0;
      }
    }
  }
  return {};
}

Result<PageIndex> PageIndex::BuildInParts(
    const Reader& reader, int parts, const std::function<void(const PageView&, int)>& on_leaf) {
  PageIndex index(reader.meta().pgid);
  const Pgid pgid = index.pgid_;
  const uint64_t pages_per_chunk = kReadChunk / reader.page_size();
  // Part k covers [part_starts_[k], part_starts_[k+1]), whole chunks but the last.
  parts = std::max(1, parts);
  index.part_starts_.assign(1, 2);
  for (int k = 1; k < parts; k++) {
    const Pgid at = 2 + (pgid > 2 ? (pgid - 2) * k / parts : 0) / pages_per_chunk * pages_per_chunk;
    // No empty parts: a file of a few chunks is read on fewer threads (one
    // under two chunks per part), not by a thread started for nothing.
    if (at > index.part_starts_.back()) index.part_starts_.push_back(at);
  }
  const size_t n = index.part_starts_.size();
  std::vector<std::vector<Pgid>> children(n);
  std::vector<Result<void>> done(n);
  auto scan = [&](size_t k) {
    const Pgid end = k + 1 < n ? index.part_starts_[k + 1] : std::max<Pgid>(pgid, 2);
    done[k] = index.ScanRange(
        reader, index.part_starts_[k], end,
        [&, k](const PageView& page) { on_leaf(page, static_cast<int>(k)); }, children[k]);
  };
  // Parts touch disjoint pages_ entries and their own children lists.
  std::vector<std::thread> threads;
  for (size_t k = 1; k < n; k++) threads.emplace_back(scan, k);
  scan(0);
  for (auto& t : threads) t.join();
  for (size_t k = 0; k < n; k++) {
    CPR_RETURN_IF_ERROR(done[k]);
    const auto offset = static_cast<uint32_t>(index.children_.size());
    const Pgid end = k + 1 < n ? index.part_starts_[k + 1] : pgid;
    for (Pgid id = index.part_starts_[k]; id < end && offset > 0; id++) {
      if ((index.pages_[id].flags & kBranchPage) == 0) continue;
      index.pages_[id].children_begin += offset;
      index.pages_[id].children_end += offset;
    }
    index.children_.insert(index.children_.end(), children[k].begin(), children[k].end());
  }
  return index;
}

int PageIndex::part(Pgid id) const {
  int k = 0;
  while (k + 1 < static_cast<int>(part_starts_.size()) && id >= part_starts_[k + 1]) k++;
  return k;
}

PageIndexStream::PageIndexStream(std::function<void(const PageView&)> on_leaf, uint64_t max_bytes)
    : on_leaf_(std::move(on_leaf)), max_bytes_(max_bytes) {}

void PageIndexStream::Push(Bytes data) {
  window_.append(data);
  if (!started_ && !Start()) return;
  Drain();
}

bool PageIndexStream::Start() {
  // The page size and high-water mark from the meta pages at the head of
  // the stream (§1.3: the one with the larger txid; the Reader that Finish()
  // gets checks them for real).
  if (window_.size() < 80) return false;
  const Meta m0 = Meta::Decode(Bytes(window_).substr(0, 80));
  if (m0.magic != kMagic || m0.page_size < 1024 || m0.page_size > (1u << 20) ||
      (m0.page_size & (m0.page_size - 1)) != 0) {
    failed_ = true;  // Finish() reads the file instead
    started_ = true;
    return false;
  }
  if (window_.size() < uint64_t{m0.page_size} + 80) return false;
  const Meta m1 = Meta::Decode(Bytes(window_).substr(m0.page_size, 80));
  const Meta& m = m1.magic == kMagic && m1.page_size == m0.page_size && m1.txid > m0.txid ? m1 : m0;
  started_ = true;
  if (m.pgid > max_bytes_ / m.page_size) {
    failed_ = true;
    return false;
  }
  page_size_ = m.page_size;
  index_ = PageIndex(m.pgid);
  return true;
}

void PageIndexStream::Drain() {
  if (failed_) {
    window_.clear();
    return;
  }
  const uint64_t ps = page_size_;
  while (next_ < index_.pgid_) {
    const uint64_t at = (next_ - window_first_) * ps;
    if (at + ps > window_.size()) break;
    const char* p = window_.data() + at;
    if (!index_.NoteHeader(next_, p)) {
      next_++;
      continue;
    }
    const uint64_t span = (uint64_t{index_.pages_[next_].overflow} + 1) * ps;
    if (at + span <= window_.size()) {
      index_.NoteSpan(PageView(Bytes(p, span), &name_, next_, false), on_leaf_);
    } else if (span > kMaxWindow) {
      later_.push_back(next_);  // read from the file by Finish()
    } else {
      break;  // wait for the rest of the span
    }
    next_++;
  }
  // Drop what is behind the next page to look at, in large steps.
  const uint64_t done = (next_ - window_first_) * ps;
  if (done >= kReadChunk || next_ >= index_.pgid_) {
    window_.erase(0, std::min<uint64_t>(done, window_.size()));
    window_first_ = next_;
  }
}

Result<PageIndex> PageIndexStream::Finish(const Reader& reader) {
  if (failed_ || !started_ || page_size_ != reader.page_size() ||
      index_.pgid_ != reader.meta().pgid)
    return PageIndex::Build(reader, on_leaf_);  // the stream's metas said otherwise: read the file
  const uint64_t ps = page_size_;
  const Bytes file = reader.file().data();
  // Pages whose bytes never all arrived, then spans too long for the window.
  for (; next_ < index_.pgid_; next_++) {
    if ((next_ + 1) * ps > file.size()) {
      index_.pages_[next_].flags = 0;
      continue;
    }
    if (index_.NoteHeader(next_, file.data() + next_ * ps)) later_.push_back(next_);
  }
  for (Pgid id : later_) {
    if (auto page = reader.Page(id))
      index_.NoteSpan(*page, on_leaf_);
    else
      index_.pages_[id].flags = 0;
  }
  window_.clear();
  return std::move(index_);
}

Result<void> PageIndex::ReadPages(const Reader& reader, std::span<const Pgid> ids,
                                  const std::function<Result<void>(const PageView&)>& fn) {
  const uint64_t ps = reader.page_size();
  const uint64_t pages_per_chunk = kReadChunk / ps;
  if (ids.empty()) return {};
  // At most a chunk, at most the image; not filled (see ScanRange).
  const Pgid pgid = reader.meta().pgid;
  auto buf = std::make_unique_for_overwrite<char[]>(std::min<uint64_t>(pages_per_chunk, pgid) * ps);
  std::string long_span;  // a page whose overflow runs past the chunk
  size_t next = 0;
  while (next < ids.size()) {
    const Pgid first = ids[next];
    if (first >= pgid) return reader.Page(first).error();  // outside the image
    const uint64_t n = std::min<uint64_t>(pages_per_chunk, pgid - first);
    CPR_RETURN_IF_ERROR(reader.file().ReadAt(first * ps, buf.get(), n * ps));
    for (; next < ids.size() && ids[next] < first + n; next++) {
      const uint64_t i = ids[next] - first;
      const uint32_t overflow = LoadLe32(buf.get() + i * ps + 12);
      if (i + overflow < n) {
        CPR_RETURN_IF_ERROR(fn(PageView(Bytes(buf.get() + i * ps, (uint64_t{overflow} + 1) * ps),
                                        &reader.name(), ids[next], false)));
      } else {
        // Runs past the chunk: read on its own (up to kReadSpanMax: etcd's
        // values are at most a few MB), not through the mapping, whose
        // touched pages count in RSS up to MappedFile's budget.
        const uint64_t bytes = (uint64_t{overflow} + 1) * ps;
        if (ids[next] + overflow >= pgid || bytes > kReadSpanMax) {
          CPR_RETURN_IF_ERROR(fn(CPR_TRY(reader.Page(ids[next]))));
          continue;
        }
        long_span.resize(bytes);
        CPR_RETURN_IF_ERROR(reader.file().ReadAt(ids[next] * ps, long_span.data(), bytes));
        CPR_RETURN_IF_ERROR(fn(PageView(Bytes(long_span), &reader.name(), ids[next], false)));
      }
    }
  }
  return {};
}

namespace {

// The children of branch page `id`, appended to `children`.
Result<void> BranchChildren(const Reader& reader, Pgid id, std::vector<Pgid>& children) {
  const PageView page = CPR_TRY(reader.Page(id));
  if (!page.is_branch()) return page.Corrupt("not a branch page, yet above a branch page's child");
  CPR_RETURN_IF_ERROR(page.CheckElementArray());
  if (page.count() == 0) return page.Corrupt("empty branch page");
  Bytes previous;
  for (size_t e = 0; e < page.count(); e++) {
    const BranchElement el = CPR_TRY(page.Branch(e));
    if (e > 0 && !(previous < el.key))
      return page.Corrupt(fmt::format("branch element {}: key is not after the previous key", e));
    previous = el.key;
    children.push_back(el.child);
  }
  return {};
}

}  // namespace

Result<std::vector<Pgid>> PageIndex::TreeLeaves(const Reader& reader, Pgid root) {
  std::vector<Pgid> level{root}, next;
  for (int depth = 0;; depth++) {
    if (depth > kMaxDepth)
      return MakeError(Code::kCorrupt, fmt::format("{} page {}", reader.name(), root),
                       fmt::format("tree deeper than {} levels", kMaxDepth));
    // One level at a time: its first page says whether it holds the leaves.
    if (CPR_TRY(reader.Page(level.front())).is_leaf()) break;
    next.clear();
    for (Pgid id : level) CPR_RETURN_IF_ERROR(BranchChildren(reader, id, next));
    level.swap(next);
  }
  std::sort(level.begin(), level.end());
  for (size_t i = 1; i < level.size(); i++)
    if (level[i] == level[i - 1])
      return MakeError(Code::kCorrupt, fmt::format("{} page {}", reader.name(), level[i]),
                       "multiple references");
  if (level.back() >= reader.meta().pgid) return reader.Page(level.back()).error();
  return level;
}

void PageIndex::Leaves(Pgid root, std::vector<Pgid>& leaves, std::vector<std::string>& faults) {
  // Iterative DFS in child order: (page, depth).
  std::vector<std::pair<Pgid, int>> stack{{root, 0}};
  while (!stack.empty()) {
    auto [id, depth] = stack.back();
    stack.pop_back();
    if (id < 2 || id >= pgid_) {
      faults.push_back(fmt::format("page {}: out of bounds (high-water mark {})", id, pgid_));
      continue;
    }
    const PageInfo& info = pages_[id];
    bool twice = false;
    const Pgid last = id + (info.flags ? info.overflow : 0);
    for (Pgid p = id; p <= last && p < pgid_; p++) {
      if (reachable_[p]) twice = true;
      reachable_[p] = true;
    }
    if (twice) {
      faults.push_back(fmt::format("page {}: multiple references", id));
      continue;
    }
    reachable_count_ += last - id + 1;
    if (info.flags & kBranchPage) {
      branches_reached_++;
      if (info.bad_branch || info.children_end == info.children_begin) {
        faults.push_back(
            fmt::format("page {}: branch elements out of bounds, out of order or empty", id));
        continue;
      }
      if (depth >= kMaxDepth) {
        faults.push_back(fmt::format("page {}: tree deeper than {} levels", id, kMaxDepth));
        continue;
      }
      for (uint32_t c = info.children_end; c > info.children_begin; c--)
        stack.emplace_back(children_[c - 1], depth + 1);
    } else if (info.flags & kLeafPage) {
      leaves.push_back(id);
    } else {
      faults.push_back(fmt::format("page {}: invalid type: not a branch or leaf page start", id));
    }
  }
}

void PageIndex::CheckFreelist(const Reader& reader, std::vector<std::string>& faults) const {
  const Pgid fl = reader.meta().freelist;
  if (fl == kNoFreelist) return;  // not synced (etcd 3.4): free pages are whatever is unreachable
  auto page = reader.Page(fl);
  if (!page || (page->flags() & kFreelistPage) == 0) {
    faults.push_back(fmt::format("page {}: the meta's freelist page is not a freelist", fl));
    return;
  }
  auto ids = FreelistIds(*page);
  if (!ids) {
    faults.push_back(fmt::format("page {}: {}", fl, ids.error().what));
    return;
  }
  // §1.12 step 4: with a real freelist, every page is reachable or free, never both.
  std::vector<bool> accounted = reachable_;
  for (Pgid id = fl; id <= fl + page->overflow() && id < pgid_; id++) accounted[id] = true;
  for (Pgid id : *ids) {
    if (id < 2 || id >= pgid_)
      faults.push_back(fmt::format("page {}: free id {} outside 2..{}", fl, id, pgid_ - 1));
    else if (accounted[id])
      faults.push_back(fmt::format("page {}: reachable or already freed, yet free", id));
    else
      accounted[id] = true;
  }
  uint64_t lost = 0;
  Pgid first_lost = 0;
  for (Pgid id = 2; id < pgid_; id++)
    if (!accounted[id] && lost++ == 0) first_lost = id;
  if (lost > 0)
    faults.push_back(
        fmt::format("page {}: unreachable unfreed ({} pages in all)", first_lost, lost));
}

}  // namespace cpr::bolt
