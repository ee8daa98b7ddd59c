// Cursor: ordered iteration over one bucket's B+tree (etcd-formats.md §1.5,
// §1.6, §1.11), like bbolt's cursor.go.
//
// Every step is bounds-checked. A tree that is not a tree is reported, not
// followed forever: depth is capped, a traversal may enter each page at most
// once per pass (a cycle or shared child fails with "page N: ..."), and keys
// must come out strictly ascending.
//
// Lifetime: element() views point into the Reader's mapping and stay valid
// as long as the Reader; the cursor itself must not outlive the Reader.
#pragma once

#include <vector>

#include "bolt/reader.h"

namespace cpr::bolt {

class Cursor {
 public:
  Cursor(const Reader& reader, const BucketRef& bucket);

  // Positions on the first element; false when the bucket is empty.
  Result<bool> First();
  // Positions on the first element whose key is >= `key`; false if none.
  Result<bool> Seek(Bytes key);
  // Positions on the last element; false when the bucket is empty.
  Result<bool> Last();
  // Moves to the next element; false at the end. REQUIRES: positioned.
  Result<bool> Next();

  // REQUIRES: the last call returned true.
  const LeafElement& element() const { return element_; }
  // The leaf page holding element() and its index there, for error messages.
  const PageView& leaf() const { return stack_.back().page; }
  size_t index() const { return stack_.back().index; }

 private:
  struct Frame {
    PageView page;
    size_t index = 0;
  };
  void Reset();
  Result<void> Push(const PageView& page);
  Result<void> PushChild();
  Result<bool> SettleForward();  // from the top frame to the next element
  Result<bool> Load();

  const Reader& reader_;
  BucketRef bucket_;
  std::vector<Frame> stack_;
  LeafElement element_;
  Bytes previous_key_;
  bool has_previous_ = false;
  uint64_t pages_entered_ = 0;
};

}  // namespace cpr::bolt
