#include "bolt/page_index.h"

#include <fmt/format.h>

namespace cpr::bolt {
namespace {
constexpr uint64_t kReadChunk = 8ULL << 20;
constexpr int kMaxDepth = 64;
}  // namespace

Result<PageIndex> PageIndex::Build(const Reader& reader,
                                   const std::function<void(const PageView&)>& on_leaf) {
  PageIndex index;
  const uint64_t ps = reader.page_size();
  index.pgid_ = reader.meta().pgid;
  index.pages_.resize(index.pgid_);
  index.reachable_.assign(index.pgid_, false);
  index.reachable_[0] = index.reachable_[1] = true;
  const MappedFile& file = reader.file();
  std::string buf(kReadChunk, '\0');
  const uint64_t pages_per_chunk = kReadChunk / ps;
  for (Pgid first = 2; first < index.pgid_; first += pages_per_chunk) {
    const uint64_t n = std::min<uint64_t>(pages_per_chunk, index.pgid_ - first);
    CPR_RETURN_IF_ERROR(file.ReadAt(first * ps, buf.data(), n * ps));
    for (uint64_t i = 0; i < n; i++) {
      const Pgid id = first + i;
      const char* p = buf.data() + i * ps;
      PageInfo& info = index.pages_[id];
      info.flags = LoadLe16(p + 8);
      info.overflow = LoadLe32(p + 12);
      if (LoadLe64(p) != id || id + info.overflow >= index.pgid_) {
        info.flags = 0;  // not a page start (stale or overflow data): never valid in a tree
        continue;
      }
      const bool branch = (info.flags & kBranchPage) != 0;
      const bool leaf = !branch && (info.flags & kLeafPage) != 0;
      if (!branch && !leaf) continue;
      // The whole span: in the buffer when it fits, else through the mapping.
      PageView view;
      if (i + info.overflow < n) {
        view = PageView(Bytes(p, (uint64_t{info.overflow} + 1) * ps), &reader.name(), id, false);
      } else {
        auto mapped = reader.Page(id);
        if (!mapped) {
          info.flags = 0;
          continue;
        }
        view = *mapped;
      }
      if (leaf) {
        on_leaf(view);
        continue;
      }
      info.children_begin = static_cast<uint32_t>(index.children_.size());
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
          index.children_.push_back(el->child);
        }
      }
      info.children_end = static_cast<uint32_t>(index.children_.size());
    }
  }
  return index;
}

Result<void> PageIndex::ReadPages(const Reader& reader, const std::vector<Pgid>& ids,
                                  const std::function<Result<void>(const PageView&)>& fn) {
  const uint64_t ps = reader.page_size();
  const uint64_t pages_per_chunk = kReadChunk / ps;
  std::string buf(kReadChunk, '\0');
  size_t next = 0;
  while (next < ids.size()) {
    const Pgid first = ids[next];
    const uint64_t n = std::min<uint64_t>(pages_per_chunk, reader.meta().pgid - first);
    CPR_RETURN_IF_ERROR(reader.file().ReadAt(first * ps, buf.data(), n * ps));
    for (; next < ids.size() && ids[next] < first + n; next++) {
      const uint64_t i = ids[next] - first;
      const uint32_t overflow = LoadLe32(buf.data() + i * ps + 12);
      if (i + overflow < n) {
        CPR_RETURN_IF_ERROR(fn(PageView(Bytes(buf.data() + i * ps, (uint64_t{overflow} + 1) * ps),
                                        &reader.name(), ids[next], false)));
      } else {
        CPR_RETURN_IF_ERROR(fn(CPR_TRY(reader.Page(ids[next]))));  // runs past the chunk
      }
    }
  }
  return {};
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
