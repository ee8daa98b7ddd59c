#include "https/state_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "util/atomic_file.h"

namespace cpr::https {

Result<FileLock> AcquireServeLock(const std::string& path, const std::string& busy_what,
                                  const std::string& busy_hint) {
  auto lock = FileLock::Acquire(path, /*wait=*/false);
  if (!lock && lock.error().code == Code::kFailedPrecondition)
    return MakeError(Code::kFailedPrecondition, DirName(path), busy_what, busy_hint);
  return lock;
}

bool LockHeld(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

bool ProcessRuns(int pid, const std::vector<std::string>& words) {
  // /proc files report size 0: read until EOF.
  int fd = ::open(fmt::format("/proc/{}/cmdline", pid).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 16))
    text.append(buf, static_cast<size_t>(n));
  ::close(fd);
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); i++)
    if (i == text.size() || text[i] == '\0') {
      if (i > start) args.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  for (size_t i = 0; i + words.size() <= args.size(); i++)
    if (std::equal(words.begin(), words.end(), args.begin() + static_cast<std::ptrdiff_t>(i)))
      return true;
  return false;
}

Result<void> TerminateAndWait(int pid, const std::string& lock_path, int wait_seconds,
                              const std::string& what) {
  if (::kill(pid, SIGTERM) != 0 && errno != ESRCH)
    return MakeError(Code::kIo, fmt::format("pid {}", pid),
                     std::string("kill: ") + std::strerror(errno));
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  while (LockHeld(lock_path)) {
    if (std::chrono::steady_clock::now() > end)
      return MakeError(Code::kUnavailable, fmt::format("pid {}", pid),
                       fmt::format("{} did not stop within {}s", what, wait_seconds));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {};
}

}  // namespace cpr::https
