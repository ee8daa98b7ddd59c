// Writer: writes a fresh, compact bbolt file in one sequential pass
// (etcd-formats.md §1.13), the way restore rebuilds an etcd db.
//
// Buckets are added in ascending name order, keys within a bucket in
// ascending order, as a cursor over a source yields them. Leaf pages are
// filled and written as they fill; branch levels are built from the leaves'
// first keys when a bucket ends; small buckets are stored inline as bbolt
// itself would. Pages 0-1 (metas) and 2 (an empty freelist) are written
// last. Memory: one leaf of views plus one first-key per leaf page, whatever
// the file size.
//
// A bucket can also adopt leaf pages that are already in the file at their
// own ids (AdoptLeaf: a restore copies a source's leaves in place, below
// Options::first_pgid), in any order, each with its rank in key order:
// EndBucket builds the branches over them sorted by rank. Keys Put after
// adopted leaves follow them (the caller guarantees they sort after every
// adopted key).
//
// Keys and values passed to Put must stay valid until EndBucket().
//
// Durability: Finish() fsyncs the file; the caller renames it into place and
// fsyncs the directory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bolt/page.h"
#include "util/background_writer.h"
#include "util/result.h"

namespace cpr::bolt {

class Writer {
 public:
  struct Options {
    // New pages start here; pages below it (but 0-1, the metas) belong to
    // the caller, who fills those it adopts. 3 for a file of our own.
    Pgid first_pgid = 3;
    // Page 2 holds an empty freelist (§1.9.1). Without it the meta says
    // "not synced" (as etcd 3.4 writes it) and bbolt computes the free
    // pages when it opens the file: the only choice when page 2 is adopted.
    bool freelist = true;
  };
  // Creates `path` (must not exist; mode 0600).
  static Result<std::unique_ptr<Writer>> Create(const std::string& path, uint32_t page_size,
                                                const Options& options);
  static Result<std::unique_ptr<Writer>> Create(const std::string& path, uint32_t page_size) {
    return Create(path, page_size, Options{});
  }
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  Result<void> BeginBucket(Bytes name);
  Result<void> Put(Bytes key, Bytes value);
  // Takes the leaf page at `id` (at least one element, keys ascending,
  // `first_key` first) into the bucket as it is in the file. `rank`: its
  // place in the bucket's key order (unique; any order of calls).
  // REQUIRES: 2 <= id, and the page with its overflow below first_pgid.
  Result<void> AdoptLeaf(Pgid id, uint32_t overflow, Bytes first_key, uint64_t rank);
  // A leaf written anew with `items` (keys ascending; part of a source leaf,
  // say) at `rank` among the adopted ones. The views must stay valid until
  // the call returns.
  Result<void> NewLeaf(const std::vector<std::pair<Bytes, Bytes>>& items, uint64_t rank);
  // The file, for filling adopted pages in place (below first_pgid only).
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  Result<void> EndBucket();
  // Writes the root bucket, freelist and metas, fsyncs and closes.
  Result<void> Finish();

  uint64_t pages() const { return next_pgid_; }
  uint64_t bytes_written() const { return next_pgid_ * page_size_; }

 private:
  Writer() = default;
  struct Child {
    uint64_t key_offset;  // into leaf_keys_ (or the level's key arena)
    uint32_t key_size;
    Pgid pgid;
    uint64_t rank = 0;  // key order of a bucket's leaves (CopyLeaf)
  };
  Result<void> FlushLeaf();
  Result<Pgid> WriteLeaf(const std::vector<std::pair<Bytes, Bytes>>& items, uint32_t flags);
  Result<void> WriteHead(Pgid root);  // pages 0-2
  Result<Pgid> BuildBranches(std::vector<Child> level, std::string keys);
  Result<void> WritePages(const std::string& image);  // appends at next_pgid_
  Result<void> Flush();
  std::string BucketValue(Pgid root) const;

  std::string path_;
  int fd_ = -1;
  uint32_t page_size_ = 4096;
  Pgid next_pgid_ = 3;  // 0, 1 metas; 2 freelist (or adopted pages); then first_pgid_
  std::string buffer_;  // pages not yet handed to out_
  std::unique_ptr<BackgroundWriter> out_;

  // The bucket being written.
  bool in_bucket_ = false;
  std::string bucket_name_;
  Bytes last_key_;
  bool has_last_key_ = false;
  std::vector<std::pair<Bytes, Bytes>> leaf_;
  size_t leaf_size_ = kPageHeaderSize;
  bool wrote_leaf_ = false;
  bool adopted_leaves_ = false;  // leaves_ need sorting by rank
  Pgid first_pgid_ = 3;
  bool freelist_ = true;
  std::vector<Child> leaves_;
  std::string leaf_keys_;

  // Root bucket elements: (name, bucket value).
  std::vector<std::pair<std::string, std::string>> buckets_;
};

}  // namespace cpr::bolt
