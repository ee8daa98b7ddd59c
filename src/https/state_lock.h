// The state dir of a serving process (the signer, the recovery API): an
// flock on <state>/<name>.lock held for the server's whole life, so a second
// server on the same state is refused and `stop` knows whether one runs; and
// the stop itself (SIGTERM to a pid checked to be the right command).
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::https {

class ServeLock {
 public:
  // kFailedPrecondition when another process holds it (`busy_what` and
  // `busy_hint` complete the message).
  static Result<ServeLock> Acquire(const std::string& lock_path, const std::string& busy_what,
                                   const std::string& busy_hint);
  ServeLock(ServeLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ServeLock(const ServeLock&) = delete;
  ServeLock& operator=(const ServeLock&) = delete;
  ~ServeLock();

 private:
  explicit ServeLock(int fd) : fd_(fd) {}
  int fd_;
};

// True when some process holds the lock at `lock_path`.
bool LockHeld(const std::string& lock_path);

// True when /proc/<pid>/cmdline holds `words` as consecutive arguments
// (e.g. {"signer", "serve"}).
bool ProcessRuns(int pid, const std::vector<std::string>& words);

// SIGTERM to `pid` (REQUIRES: checked with ProcessRuns), then waits until
// the lock at `lock_path` is free, at most `wait_seconds`.
Result<void> TerminateAndWait(int pid, const std::string& lock_path, int wait_seconds,
                              const std::string& what);

}  // namespace cpr::https
