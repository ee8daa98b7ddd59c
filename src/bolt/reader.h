// Reader: read-only access to a bbolt file (etcd-formats.md §1).
//
// Opening validates the meta pages and checks that the high-water mark fits
// in the file; every later page access is bounds-checked, so a corrupt or
// hostile file yields an Error naming the page, never a crash. The file is
// never written (etcd-formats.md §1.14: a read-write bbolt open rewrites
// snapshots).
//
// Lifetime: every Bytes and PageView handed out points into the file mapping
// and stays valid as long as the Reader. Resident memory stays bounded (see
// MappedFile::Touch), whatever the file size.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "bolt/meta.h"
#include "bolt/page.h"
#include "util/mapped_file.h"
#include "util/result.h"

namespace cpr::bolt {

class Reader {
 public:
  struct Options {
    // Read the whole file ahead in the background: for commands that visit
    // every page (status, verify, ls), so a cold file is read sequentially.
    bool prefetch = false;
  };

  static Result<std::unique_ptr<Reader>> Open(const std::string& path, const Options& options);
  static Result<std::unique_ptr<Reader>> Open(const std::string& path) {
    return Open(path, Options{});
  }
  // Over a file already mapped (or bytes in memory, see MappedFile::FromBytes).
  static Result<std::unique_ptr<Reader>> Open(std::unique_ptr<MappedFile> file,
                                              const Options& options);

  const std::string& name() const { return file_->path(); }
  const Meta& meta() const { return meta_.meta; }
  int meta_page() const { return meta_.page; }
  // Why the non-current meta page was invalid ("" when both were valid).
  const std::string& meta_fault() const { return meta_.other_fault; }
  uint32_t page_size() const { return meta_.meta.page_size; }
  // The bbolt image: pages 0 .. pgid-1 (a snapshot's trailer follows it).
  Bytes image() const { return file_->data().substr(0, meta().pgid * page_size()); }
  const MappedFile& file() const { return *file_; }

  // Page `id` with its overflow pages. Checks id < pgid, that the span ends
  // inside the image and that the header's id is `id`.
  Result<PageView> Page(Pgid id) const;

  BucketRef root() const { return BucketRef{meta().root, meta().root_sequence, {}}; }
  // A top-level bucket by name, nullopt when absent.
  Result<std::optional<BucketRef>> Bucket(Bytes name) const;

  // Page view of a bucket's root: its inline page or Page(root).
  Result<PageView> RootPage(const BucketRef& bucket) const;

 private:
  Reader() = default;
  std::unique_ptr<MappedFile> file_;
  MetaChoice meta_;
};

}  // namespace cpr::bolt
