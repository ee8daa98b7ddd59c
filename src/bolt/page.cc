#include "bolt/page.h"

#include <fmt/format.h>

namespace cpr::bolt {

std::string PageTypeName(uint16_t flags) {
  // bbolt tests the bits in this order (§1.3).
  if (flags & kBranchPage) return "branch";
  if (flags & kLeafPage) return "leaf";
  if (flags & kMetaPage) return "meta";
  if (flags & kFreelistPage) return "freelist";
  return fmt::format("unknown<{:02x}>", flags);
}

PageView::PageView(Bytes bytes, const std::string* file, Pgid at, bool is_inline)
    : bytes_(bytes), file_(file), at_(at), inline_(is_inline) {}

std::string PageView::where() const {
  const std::string file = file_ != nullptr ? *file_ + " " : "";
  if (inline_) return file + "inline bucket page";
  return fmt::format("{}page {} ({})", file, at_, PageTypeName(flags()));
}

Error PageView::Corrupt(const std::string& what) const {
  return MakeError(Code::kCorrupt, where(), what);
}

Result<void> PageView::CheckElementArray() const {
  const size_t size = is_branch() ? kBranchElementSize : kLeafElementSize;
  if (kPageHeaderSize + size * count() > bytes_.size())
    return Corrupt(fmt::format("{} elements of {} bytes do not fit in {} bytes", count(), size,
                               bytes_.size()));
  return {};
}

Result<LeafElement> PageView::Leaf(size_t i) const {
  const size_t at = kPageHeaderSize + kLeafElementSize * i;
  if (at + kLeafElementSize > bytes_.size())
    return Corrupt(fmt::format("element {}: header past the end of the page", i));
  const char* e = bytes_.data() + at;
  LeafElement out;
  out.flags = LoadLe32(e);
  const uint64_t pos = LoadLe32(e + 4), ksize = LoadLe32(e + 8), vsize = LoadLe32(e + 12);
  // §1.6: key at element+pos, value right after the key.
  if (at + pos + ksize + vsize > bytes_.size())
    return Corrupt(fmt::format("element {}: key/value at offset {} (+{}+{}) past page end {}", i,
                               at + pos, ksize, vsize, bytes_.size()));
  out.key = bytes_.substr(at + pos, ksize);
  out.value = bytes_.substr(at + pos + ksize, vsize);
  return out;
}

Result<BranchElement> PageView::Branch(size_t i) const {
  const size_t at = kPageHeaderSize + kBranchElementSize * i;
  if (at + kBranchElementSize > bytes_.size())
    return Corrupt(fmt::format("element {}: header past the end of the page", i));
  const char* e = bytes_.data() + at;
  const uint64_t pos = LoadLe32(e), ksize = LoadLe32(e + 4);
  if (at + pos + ksize > bytes_.size())
    return Corrupt(fmt::format("element {}: key at offset {} (+{}) past page end {}", i, at + pos,
                               ksize, bytes_.size()));
  return BranchElement{bytes_.substr(at + pos, ksize), LoadLe64(e + 8)};
}

Result<BucketRef> ParseBucketValue(Bytes value, const std::string& where) {
  if (value.size() < kBucketHeaderSize)
    return MakeError(
        Code::kCorrupt, where,
        fmt::format("bucket value is {} bytes, shorter than its 16-byte header", value.size()));
  BucketRef ref;
  ref.root = LoadLe64(value.data());
  ref.sequence = LoadLe64(value.data() + 8);
  if (ref.root == 0) {
    ref.inline_page = value.substr(kBucketHeaderSize);
    if (ref.inline_page.size() < kPageHeaderSize)
      return MakeError(Code::kCorrupt, where, "inline bucket shorter than a page header");
  }
  return ref;
}

Result<std::vector<Pgid>> FreelistIds(const PageView& page) {
  const Bytes b = page.bytes();
  uint64_t count = page.count(), first = kPageHeaderSize;
  if (count == 0xFFFF) {
    if (b.size() < kPageHeaderSize + 8) return page.Corrupt("freelist count past the page end");
    count = LoadLe64(b.data() + kPageHeaderSize);
    first += 8;
  }
  if (count > (b.size() - first) / 8)
    return page.Corrupt(fmt::format("{} free ids do not fit in the freelist page", count));
  std::vector<Pgid> ids(count);
  for (uint64_t i = 0; i < count; i++) ids[i] = LoadLe64(b.data() + first + 8 * i);
  return ids;
}

}  // namespace cpr::bolt
