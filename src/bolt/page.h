// bbolt's on-disk page layout (bbolt v1.3.6), as decoded views.
//
// etcd-formats.md §1.2 (header), §1.3 (types), §1.5 (branch elements),
// §1.6 (leaf elements), §1.7 (overflow), §1.8 (bucket values, inline pages).
// All structures are little-endian. A PageView points into the file mapping
// (or into a bucket value, for inline pages) and lives as long as it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace cpr::bolt {

using Pgid = uint64_t;

constexpr size_t kPageHeaderSize = 16;
constexpr size_t kBranchElementSize = 16;
constexpr size_t kLeafElementSize = 16;
constexpr size_t kBucketHeaderSize = 16;
constexpr uint16_t kBranchPage = 0x01;
constexpr uint16_t kLeafPage = 0x02;
constexpr uint16_t kMetaPage = 0x04;
constexpr uint16_t kFreelistPage = 0x10;
constexpr uint32_t kBucketLeafFlag = 0x01;
constexpr Pgid kNoFreelist = ~Pgid{0};

// "branch", "leaf", "meta", "freelist" or "unknown<%02x>", as bbolt names them.
std::string PageTypeName(uint16_t flags);

struct LeafElement {
  uint32_t flags = 0;  // kBucketLeafFlag: value is a bucket value (§1.8)
  Bytes key;
  Bytes value;
  bool is_bucket() const { return (flags & kBucketLeafFlag) != 0; }
};

struct BranchElement {
  Bytes key;  // first key of the child's subtree
  Pgid child = 0;
};

// A page (with its overflow pages) or an inline bucket page.
class PageView {
 public:
  PageView() = default;
  // `bytes` is the whole span: (overflow+1) * pageSize for a file page, the
  // rest of the bucket value for an inline page. `file` (which must outlive
  // the view) and `at` name it in errors; an inline page has no id.
  PageView(Bytes bytes, const std::string* file, Pgid at, bool is_inline);

  Pgid id() const { return LoadLe64(bytes_.data()); }
  uint16_t flags() const { return LoadLe16(bytes_.data() + 8); }
  uint16_t count() const { return LoadLe16(bytes_.data() + 10); }
  uint32_t overflow() const { return LoadLe32(bytes_.data() + 12); }
  bool is_branch() const { return (flags() & kBranchPage) != 0; }
  bool is_leaf() const { return !is_branch() && (flags() & kLeafPage) != 0; }
  Bytes bytes() const { return bytes_; }
  bool is_inline() const { return inline_; }
  // "snap.db page 42 (leaf)" or "snap.db inline page in bucket", for errors.
  std::string where() const;

  // Element i, bounds-checked against the span. REQUIRES: i < count().
  Result<LeafElement> Leaf(size_t i) const;
  Result<BranchElement> Branch(size_t i) const;

  // Checks that the element array fits in the span.
  Result<void> CheckElementArray() const;

  Error Corrupt(const std::string& what) const;

 private:
  Bytes bytes_;
  const std::string* file_ = nullptr;
  Pgid at_ = 0;
  bool inline_ = false;
};

// A bucket as referenced from its parent (§1.8): a root page id, or an
// inline leaf page stored inside the value when root == 0.
struct BucketRef {
  Pgid root = 0;
  uint64_t sequence = 0;
  Bytes inline_page;  // non-empty iff root == 0
  bool is_inline() const { return root == 0; }
};

// The page ids a freelist page lists (§1.9.1: a count of 0xFFFF escapes to
// a u64 count in the first slot). Ids are not range-checked here.
Result<std::vector<Pgid>> FreelistIds(const PageView& page);

// Parses a bucket value; `where` names the bucket in errors.
Result<BucketRef> ParseBucketValue(Bytes value, const std::string& where);

}  // namespace cpr::bolt
