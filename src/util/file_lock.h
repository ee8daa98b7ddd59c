// An exclusive flock(2) held for the life of a FileLock. The kernel drops it
// when the descriptor closes, so a process that is killed never leaves it
// held: a lock is never stale (unlike a pid file).
#pragma once

#include <string>

#include "util/result.h"

namespace cpr {

class FileLock {
 public:
  // Locks `path`: a directory, or a file created 0600 if missing. With
  // `wait`, blocks until the holder lets go; without, another holder is
  // kFailedPrecondition at once.
  static Result<FileLock> Acquire(const std::string& path, bool wait = true);
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace cpr
