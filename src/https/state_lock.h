// The state dir of a serving process (the signer, the recovery API): an
// flock on <state>/<name>.lock held for the server's whole life, so a second
// server on the same state is refused and `stop` knows whether one runs; and
// the stop itself (SIGTERM to a pid checked to be the right command).
#pragma once

#include <string>
#include <vector>

#include "util/file_lock.h"
#include "util/result.h"

namespace cpr::https {

// Locks `lock_path` for the server's life (util/file_lock.h, never waits).
// When another process holds it: kFailedPrecondition naming the state dir,
// with `busy_what` and `busy_hint`.
Result<FileLock> AcquireServeLock(const std::string& lock_path, const std::string& busy_what,
                                  const std::string& busy_hint);

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
