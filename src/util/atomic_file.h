// Durable file writes and small file helpers.
//
// Every file CPR produces goes through WriteFileAtomic: the bytes are written
// to a temporary name in the same directory, fsynced, renamed over the
// target and the directory is fsynced, so a crash leaves either the old file
// or the new one, never a mix (architecture.md "Durability").
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace cpr {

// Writes `data` to `path` atomically with permission bits `mode` (applied
// with fchmod, so the umask does not widen or narrow it). The temporary file
// is created 0600 whatever `mode` is, so secrets never exist with wider
// permissions even for a moment. REQUIRES: the parent directory exists.
Result<void> WriteFileAtomic(const std::string& path, Bytes data, mode_t mode = 0644);

// fsync(2) on a directory, so renames and creations in it are durable.
Result<void> FsyncDir(const std::string& dir);

// mkdir -p: creates `path` and missing parents with `mode` (existing
// directories are left as they are). Each created directory's parent is
// fsynced.
Result<void> MakeDirs(const std::string& path, mode_t mode = 0700);

// Reads a whole regular file; fails (kInvalidArgument) beyond `max_size`
// bytes so that a wrong path cannot make CPR read a disk image into memory.
Result<std::string> ReadFileLimited(const std::string& path, size_t max_size = 16u << 20);

// The directory part of a path ("." when there is none).
std::string DirName(const std::string& path);

// Local time as CPR stamps what it moves aside: "2026-12-04_213844".
std::string LocalStamp();
// Where `path` is moved aside (architecture.md: never deleted): beside it,
// `<path>.moved-aside-<stamp>`, with "-2", "-3"... until the name is free.
std::string MoveAsideName(const std::string& path, const std::string& stamp);
// Renames `path` to its MoveAsideName (stamped now) in `dest_dir` ("" : its
// own folder) and makes both folders durable; returns the new path.
Result<std::string> MoveAside(const std::string& path, const std::string& dest_dir = "");

// Removes what writers of `path` killed before their rename left behind
// (`<path>.cpr-tmp-*`, from WriteFileAtomic or AtomicFile) and returns how
// many went. For a re-run that journaled which paths a killed run wrote.
// REQUIRES: no writer of `path` is running (its file would go too).
Result<int> RemoveTempFiles(const std::string& path);

// WriteFileAtomic for files too large to hold in memory (a streamed
// snapshot): written in pieces under a temporary name beside `path`
// ("<path>.cpr-tmp-<random>", created 0600), then published by Commit().
// Destroyed or Abort()ed before Commit(), it removes the temporary file, so
// a failure leaves nothing behind. Not thread-safe.
class AtomicFile {
 public:
  static Result<std::unique_ptr<AtomicFile>> Create(const std::string& path, mode_t mode = 0644);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Result<void> Write(Bytes data);
  // Sets the mode, fsyncs and closes the temporary file, which stays
  // readable at temp_path() (to verify it before publishing it).
  Result<void> Sync();
  // Sync() if not done, rename over path(), fsync the directory.
  Result<void> Commit();
  // Removes the temporary file; no-op after Commit().
  void Abort();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  uint64_t size() const { return size_; }
  bool committed() const { return committed_; }

 private:
  AtomicFile() = default;
  std::string path_, tmp_;
  mode_t mode_ = 0644;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool synced_ = false, committed_ = false;
};

}  // namespace cpr
