#include "bolt/reader.h"

#include <fmt/format.h>

#include "bolt/cursor.h"

namespace cpr::bolt {

Result<std::unique_ptr<Reader>> Reader::Open(const std::string& path, const Options& options) {
  return Open(CPR_TRY(MappedFile::Open(path)), options);
}

Result<std::unique_ptr<Reader>> Reader::Open(std::unique_ptr<MappedFile> file,
                                             const Options& options) {
  std::unique_ptr<Reader> r(new Reader());
  r->file_ = std::move(file);
  const std::string& path = r->file_->path();
  r->meta_ = CPR_TRY(ChooseMeta(r->file_->data(), path));
  const Meta& m = r->meta();
  // §1.11: pgid * pageSize must fit in the file; a page beyond EOF would
  // fault when touched.
  if (m.pgid < 2 || m.pgid > r->file_->size() / m.page_size)
    return MakeError(Code::kCorrupt, path,
                     fmt::format("meta page {}: high-water mark {} pages x {} bytes does not fit "
                                 "in the file's {} bytes",
                                 r->meta_.page, m.pgid, m.page_size, r->file_->size()),
                     "the file is truncated: copy it again from its source");
  if (m.root < 2 || m.root >= m.pgid)
    return MakeError(
        Code::kCorrupt, path,
        fmt::format("meta page {}: root page {} outside 2..{}", r->meta_.page, m.root, m.pgid - 1));
  if (options.prefetch) r->file_->PrefetchInBackground();
  return r;
}

Result<PageView> Reader::Page(Pgid id) const {
  const Meta& m = meta();
  if (id < 2 || id >= m.pgid)
    return MakeError(Code::kCorrupt, name(),
                     fmt::format("reference to page {} outside 2..{}", id, m.pgid - 1));
  const uint64_t ps = m.page_size;
  const char* p = file_->data().data() + id * ps;
  const uint32_t overflow = LoadLe32(p + 12);
  if (id + overflow >= m.pgid)
    return MakeError(
        Code::kCorrupt, fmt::format("{} page {}", name(), id),
        fmt::format("{} overflow pages run past the high-water mark {}", overflow, m.pgid));
  PageView page(Bytes(p, (uint64_t{overflow} + 1) * ps), &name(), id, false);
  if (page.id() != id) return page.Corrupt(fmt::format("header says page id {}", page.id()));
  file_->Touch(page.bytes().size());
  return page;
}

Result<PageView> Reader::RootPage(const BucketRef& bucket) const {
  if (bucket.is_inline()) return PageView(bucket.inline_page, &name(), 0, true);
  return Page(bucket.root);
}

Result<std::optional<BucketRef>> Reader::Bucket(Bytes bucket_name) const {
  Cursor c(*this, root());
  bool found = CPR_TRY(c.Seek(bucket_name));
  if (!found || c.element().key != bucket_name) return std::optional<BucketRef>();
  if (!c.element().is_bucket())
    return MakeError(Code::kCorrupt, name(),
                     fmt::format("root bucket element '{}' is not a bucket", bucket_name));
  return std::optional<BucketRef>(CPR_TRY(
      ParseBucketValue(c.element().value, fmt::format("{} bucket '{}'", name(), bucket_name))));
}

}  // namespace cpr::bolt
