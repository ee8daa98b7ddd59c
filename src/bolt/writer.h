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
  // Creates `path` (must not exist; mode 0600).
  static Result<std::unique_ptr<Writer>> Create(const std::string& path, uint32_t page_size);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  Result<void> BeginBucket(Bytes name);
  Result<void> Put(Bytes key, Bytes value);
  Result<void> EndBucket();
  // Writes the root bucket, freelist and metas, fsyncs and closes.
  Result<void> Finish();

  uint64_t pages() const { return next_pgid_; }
  uint64_t bytes_written() const { return next_pgid_ * page_size_; }

 private:
  Writer() = default;
  struct Child {
    uint64_t key_offset;  // into level_keys_
    uint32_t key_size;
    Pgid pgid;
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
  Pgid next_pgid_ = 3;  // 0, 1 metas; 2 freelist
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
  std::vector<Child> leaves_;
  std::string leaf_keys_;

  // Root bucket elements: (name, bucket value).
  std::vector<std::pair<std::string, std::string>> buckets_;
};

}  // namespace cpr::bolt
