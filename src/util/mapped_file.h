// MappedFile: a read-only view of a whole file with bounded resident memory.
//
// The file is mapped PROT_READ. Mapped pages that a reader touches count
// toward its RSS, so callers that stream through large files call Touch()
// with the bytes they handed out; past a budget the whole mapping is dropped
// from the page tables with madvise(MADV_DONTNEED). The bytes stay valid: the
// next access faults them back in from the page cache (the file is never
// written through this mapping). So every view into data() lives as long as
// the MappedFile, whatever Touch() does.
//
// Thread-safety: data() and Touch() may be called from several threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "util/bytes.h"
#include "util/result.h"

namespace cpr {

// Opens `path` read-only, refusing anything but a regular file before a
// read can block: the open itself is non-blocking, so a FIFO with no writer
// (or a device) is refused at once instead of hanging. An empty path is an
// error that says so. Returns the descriptor (O_CLOEXEC, blocking again).
Result<int> OpenRegularFile(const std::string& path);

class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path);
  // Wraps bytes already in memory (tests, fuzzing); `data` must outlive the
  // result. `name` stands in for the path in messages.
  static std::unique_ptr<MappedFile> FromBytes(Bytes data, std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  // The open file; -1 for FromBytes.
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  // The whole file; empty for an empty file.
  Bytes data() const { return {data_, static_cast<size_t>(size_)}; }

  // Copies n bytes at `offset` into buf with pread(2) (memcpy for FromBytes),
  // leaving the mapping alone: for streaming passes (hashing the whole file)
  // that must not evict the pages another thread is walking.
  Result<void> ReadAt(uint64_t offset, char* buf, size_t n) const;

  // Hands `fn` the file's first `n` bytes in order, in windows of at most
  // 2 MB, each mapped on its own and unmapped after the call: one
  // sequential pass (hashing) without the copy a pread makes (7 % of
  // SHA-256's time here) and with one window resident at a time, whatever
  // data()'s mapping holds. FromBytes files hand out their memory.
  Result<void> ForEachWindow(uint64_t n, const std::function<void(Bytes)>& fn) const;

  // Accounts for `n` bytes read through data(); drops the mapping's resident
  // pages once the budget is exceeded.
  void Touch(uint64_t n) const;

  // Starts a background thread that reads the file ahead sequentially into
  // the page cache (readahead(2) in large chunks), so a walk in tree order
  // over a cold file does not pay one random read per page. Stops with the
  // MappedFile.
  void PrefetchInBackground();

 private:
  MappedFile() = default;

  std::string path_;
  int fd_ = -1;
  const char* data_ = nullptr;
  uint64_t size_ = 0;
  bool borrowed_ = false;  // FromBytes: not ours to unmap
  mutable std::atomic<uint64_t> touched_{0};
  std::atomic<bool> stop_prefetch_{false};
  std::thread prefetcher_;
};

}  // namespace cpr
