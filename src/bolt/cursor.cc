#include "bolt/cursor.h"

#include <fmt/format.h>

namespace cpr::bolt {
namespace {
// bbolt trees of any real size are far shallower; deeper means a cycle.
constexpr size_t kMaxDepth = 64;
}  // namespace

Cursor::Cursor(const Reader& reader, const BucketRef& bucket) : reader_(reader), bucket_(bucket) {}

void Cursor::Reset() {
  stack_.clear();
  has_previous_ = false;
  pages_entered_ = 0;
}

Result<void> Cursor::Push(const PageView& page) {
  if (stack_.size() >= kMaxDepth)
    return page.Corrupt(
        fmt::format("tree deeper than {} levels: a page references an ancestor", kMaxDepth));
  // A valid tree enters each page once per pass; more entries than pages in
  // the file means a cycle or a shared child.
  if (++pages_entered_ > reader_.meta().pgid)
    return page.Corrupt("entered more pages than the file holds: the tree has a cycle");
  if (!page.is_branch() && !page.is_leaf())
    return page.Corrupt(
        fmt::format("invalid type: {} page inside a bucket tree", PageTypeName(page.flags())));
  CPR_RETURN_IF_ERROR(page.CheckElementArray());
  if (page.is_branch() && page.count() == 0) return page.Corrupt("branch page with no elements");
  stack_.push_back(Frame{page, 0});
  return {};
}

Result<void> Cursor::PushChild() {
  const Frame& top = stack_.back();
  BranchElement e = CPR_TRY(top.page.Branch(top.index));
  PageView child = CPR_TRY(reader_.Page(e.child));
  return Push(child);
}

Result<bool> Cursor::SettleForward() {
  for (;;) {
    Frame& top = stack_.back();
    if (top.index >= top.page.count()) {
      stack_.pop_back();
      if (stack_.empty()) return false;
      stack_.back().index++;
      continue;
    }
    if (top.page.is_leaf()) return Load();
    CPR_RETURN_IF_ERROR(PushChild());
  }
}

Result<bool> Cursor::Load() {
  const Frame& top = stack_.back();
  element_ = CPR_TRY(top.page.Leaf(top.index));
  if (has_previous_ && !(previous_key_ < element_.key))
    return top.page.Corrupt(
        fmt::format("element {}: key is not after the previous key", top.index));
  previous_key_ = element_.key;
  has_previous_ = true;
  return true;
}

Result<bool> Cursor::First() {
  Reset();
  PageView root = CPR_TRY(reader_.RootPage(bucket_));
  CPR_RETURN_IF_ERROR(Push(root));
  return SettleForward();
}

Result<bool> Cursor::Last() {
  Reset();
  PageView root = CPR_TRY(reader_.RootPage(bucket_));
  CPR_RETURN_IF_ERROR(Push(root));
  for (;;) {
    Frame& top = stack_.back();
    if (top.page.count() == 0) return false;  // only an empty root leaf
    top.index = top.page.count() - 1;
    if (top.page.is_leaf()) return Load();
    CPR_RETURN_IF_ERROR(PushChild());
  }
}

Result<bool> Cursor::Next() {
  if (stack_.empty()) return false;
  stack_.back().index++;
  return SettleForward();
}

Result<bool> Cursor::Seek(Bytes key) {
  Reset();
  PageView root = CPR_TRY(reader_.RootPage(bucket_));
  CPR_RETURN_IF_ERROR(Push(root));
  for (;;) {
    Frame& top = stack_.back();
    const size_t n = top.page.count();
    // Binary search: first element whose key is >= key.
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      Bytes k;
      if (top.page.is_leaf()) {
        k = CPR_TRY(top.page.Leaf(mid)).key;
      } else {
        k = CPR_TRY(top.page.Branch(mid)).key;
      }
      if (k < key) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (top.page.is_leaf()) {
      top.index = lo;
      return SettleForward();
    }
    // Branch: the last child whose first key is <= key (§1.5).
    if (lo < n && CPR_TRY(top.page.Branch(lo)).key == key) {
      top.index = lo;
    } else {
      top.index = lo == 0 ? 0 : lo - 1;
    }
    CPR_RETURN_IF_ERROR(PushChild());
  }
}

}  // namespace cpr::bolt
