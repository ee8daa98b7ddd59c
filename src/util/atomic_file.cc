#include "util/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>
#include <string_view>

namespace cpr {
namespace {

Error Errno(const std::string& where, const std::string& what) {
  return MakeError(Code::kIo, where, what + ": " + std::strerror(errno));
}

Result<void> WriteAll(int fd, Bytes data, const std::string& where) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(where, "write");
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

constexpr char kTempMark[] = ".cpr-tmp-";

std::string TempSuffix() {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string s = kTempMark;
  for (int i = 0; i < 12; i++) s.push_back(kHex[rd() & 15]);
  return s;
}

}  // namespace

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<void> FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(dir, "open directory");
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno(dir, "fsync directory");
  return {};
}

Result<void> WriteFileAtomic(const std::string& path, Bytes data, mode_t mode) {
  const std::string dir = DirName(path);
  const std::string tmp = path + TempSuffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(tmp, "create");
  auto fail = [&](Error e) -> Result<void> {
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  if (auto r = WriteAll(fd, data, tmp); !r) return fail(std::move(r).error());
  if (::fchmod(fd, mode) != 0) return fail(Errno(tmp, "fchmod"));
  if (::fsync(fd) != 0) return fail(Errno(tmp, "fsync"));
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Errno(tmp, "close");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = Errno(path, "rename from " + tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  return FsyncDir(dir);
}

Result<void> MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return MakeError(Code::kInvalidArgument, "mkdir", "empty path");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return MakeError(Code::kFailedPrecondition, path, "exists and is not a directory");
    return {};
  }
  const std::string parent = DirName(path);
  if (parent != path) CPR_RETURN_IF_ERROR(MakeDirs(parent, mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return Errno(path, "mkdir");
  // mkdir's mode is narrowed by the umask; make it exactly `mode`.
  if (::chmod(path.c_str(), mode) != 0) return Errno(path, "chmod");
  return FsyncDir(parent);
}

Result<std::string> ReadFileLimited(const std::string& path, size_t max_size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kIo, path,
                     std::string("open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Error e = Errno(path, "stat");
    ::close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return MakeError(Code::kInvalidArgument, path, "not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_size) {
    ::close(fd);
    return MakeError(Code::kInvalidArgument, path,
                     "file too large (" + std::to_string(st.st_size) + " bytes, limit " +
                         std::to_string(max_size) + ")");
  }
  // Read to end of file instead of trusting st_size: /proc files report
  // size 0, and a file may grow between fstat and read.
  std::string out;
  char buf[64 << 10];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = Errno(path, "read");
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_size) {
      ::close(fd);
      return MakeError(Code::kInvalidArgument, path,
                       "file too large (over " + std::to_string(max_size) + " bytes)");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<int> RemoveTempFiles(const std::string& path) {
  const std::string dir = DirName(path);
  const std::string prefix = path.substr(path.find_last_of('/') + 1) + kTempMark;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno == ENOENT ? Result<int>(0) : Result<int>(Errno(dir, "list"));
  int removed = 0;
  Result<int> out = 0;
  while (const dirent* e = ::readdir(d)) {
    if (std::string_view(e->d_name).rfind(prefix, 0) != 0) continue;
    const std::string tmp = dir + "/" + e->d_name;
    if (::unlink(tmp.c_str()) == 0)
      removed++;
    else if (errno != ENOENT && out)
      out = Errno(tmp, "unlink");
  }
  ::closedir(d);
  if (!out) return out;
  if (removed > 0) CPR_RETURN_IF_ERROR(FsyncDir(dir));
  return removed;
}

// ---- AtomicFile ------------------------------------------------------------

Result<std::unique_ptr<AtomicFile>> AtomicFile::Create(const std::string& path, mode_t mode) {
  std::unique_ptr<AtomicFile> f(new AtomicFile());
  f->path_ = path;
  f->tmp_ = path + TempSuffix();
  f->mode_ = mode;
  f->fd_ = ::open(f->tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (f->fd_ < 0) return Errno(f->tmp_, "create");
  return f;
}

AtomicFile::~AtomicFile() { Abort(); }

Result<void> AtomicFile::Write(Bytes data) {
  if (fd_ < 0) return MakeError(Code::kInternal, tmp_, "write after Sync/Abort");
  CPR_RETURN_IF_ERROR(WriteAll(fd_, data, tmp_));
  size_ += data.size();
  return {};
}

Result<void> AtomicFile::Sync() {
  if (synced_) return {};
  if (fd_ < 0) return MakeError(Code::kInternal, tmp_, "sync after Abort");
  if (::fchmod(fd_, mode_) != 0) return Errno(tmp_, "fchmod");
  if (::fsync(fd_) != 0) return Errno(tmp_, "fsync");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return Errno(tmp_, "close");
  synced_ = true;
  return {};
}

Result<void> AtomicFile::Commit() {
  CPR_RETURN_IF_ERROR(Sync());
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return Errno(path_, "rename from " + tmp_);
  committed_ = true;
  return FsyncDir(DirName(path_));
}

void AtomicFile::Abort() {
  if (committed_) return;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
}

std::string LocalStamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H%M%S", &tm);
  return buf;
}

Result<std::string> MoveAside(const std::string& path, const std::string& dest_dir) {
  const std::string from_dir = DirName(path);
  const std::string to_dir = dest_dir.empty() ? from_dir : dest_dir;
  CPR_RETURN_IF_ERROR(MakeDirs(to_dir, 0700));
  const std::string aside =
      MoveAsideName(to_dir + "/" + path.substr(path.rfind('/') + 1), LocalStamp());
  if (::rename(path.c_str(), aside.c_str()) != 0)
    return MakeError(Code::kIo, path, "cannot move to " + aside + ": " + std::strerror(errno));
  CPR_RETURN_IF_ERROR(FsyncDir(from_dir));
  if (to_dir != from_dir) CPR_RETURN_IF_ERROR(FsyncDir(to_dir));
  return aside;
}

std::string MoveAsideName(const std::string& path, const std::string& stamp) {
  std::string name = path + ".moved-aside-" + stamp;
  struct stat st {};
  for (int n = 2; ::lstat(name.c_str(), &st) == 0; n++)
    name = path + ".moved-aside-" + stamp + "-" + std::to_string(n);
  return name;
}

}  // namespace cpr
