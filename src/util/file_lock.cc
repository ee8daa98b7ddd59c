#include "util/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cpr {

Result<FileLock> FileLock::Acquire(const std::string& path, bool wait) {
  struct stat st {};
  // A directory cannot be opened for writing; flock needs no write access.
  const bool dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  const int fd = dir ? ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                     : ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return MakeError(Code::kIo, path, std::string("open to lock: ") + std::strerror(errno));
  while (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    Error e = errno == EWOULDBLOCK
                  ? MakeError(Code::kFailedPrecondition, path, "locked by another process")
                  : MakeError(Code::kIo, path, std::string("flock: ") + std::strerror(errno));
    ::close(fd);
    return e;
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace cpr
