#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace cpr {
namespace {

// Resident mapped bytes allowed before the mapping is dropped. Small enough
// that RSS stays far below 128 MB, large enough that re-faulting is rare.
constexpr uint64_t kResidentBudget = 32ULL << 20;
constexpr uint64_t kPrefetchChunk = 16ULL << 20;
constexpr uint64_t kCheckEvery = 1ULL << 20;
constexpr uint64_t kFaultAround = 64 << 10;  // /proc/sys/vm/fault_around_bytes default

std::string ErrnoText() { return std::strerror(errno); }

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

}  // namespace

Result<int> OpenRegularFile(const std::string& path) {
  if (path.empty())
    return MakeError(Code::kInvalidArgument, "\"\"", "the path is empty",
                     "name a snapshot or db file");
  // O_NONBLOCK: opening a FIFO without a writer would block forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    return MakeError(err == ENOENT ? Code::kNotFound : Code::kIo, path,
                     "cannot open: " + ErrnoText());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error e = MakeError(Code::kIo, path, "cannot stat: " + ErrnoText());
    ::close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return MakeError(Code::kInvalidArgument, path,
                     std::string("is ") + FileTypeName(st.st_mode) + ", not a regular file",
                     "copy the snapshot to a file first");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

Result<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  std::unique_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->fd_ = CPR_TRY(OpenRegularFile(path));
  struct stat st {};
  if (::fstat(f->fd_, &st) != 0) return MakeError(Code::kIo, path, "cannot stat: " + ErrnoText());
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, f->fd_, 0);
    if (p == MAP_FAILED) return MakeError(Code::kIo, path, "cannot map: " + ErrnoText());
    f->data_ = static_cast<const char*>(p);
    // No PMD-sized mappings: they would put 2 MB in our RSS per fault.
    ::madvise(p, f->size_, MADV_NOHUGEPAGE);
  }
  return f;
}

std::unique_ptr<MappedFile> MappedFile::FromBytes(Bytes data, std::string name) {
  std::unique_ptr<MappedFile> f(new MappedFile());
  f->path_ = std::move(name);
  f->size_ = data.size();
  f->data_ = data.data();
  f->borrowed_ = true;
  return f;
}

MappedFile::~MappedFile() {
  stop_prefetch_ = true;
  if (prefetcher_.joinable()) prefetcher_.join();
  if (data_ != nullptr && !borrowed_) ::munmap(const_cast<char*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

Result<void> MappedFile::ReadAt(uint64_t offset, char* buf, size_t n) const {
  if (offset > size_ || n > size_ - offset)
    return MakeError(Code::kInternal, path_, "read past the end of the file");
  if (borrowed_) {
    std::memcpy(buf, data_ + offset, n);
    return {};
  }
  while (n > 0) {
    ssize_t got = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return MakeError(Code::kIo, path_, "cannot read: " + ErrnoText());
    buf += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return {};
}

Result<void> MappedFile::ForEachWindow(uint64_t n, const std::function<void(Bytes)>& fn) const {
  constexpr uint64_t kWindow = 2ULL << 20;  // a multiple of any page size
  if (n > size_) return MakeError(Code::kInternal, path_, "read past the end of the file");
  if (borrowed_) {
    if (n > 0) fn(Bytes(data_, n));
    return {};
  }
  for (uint64_t off = 0; off < n; off += kWindow) {
    const uint64_t len = std::min(kWindow, n - off);
    void* p =
        ::mmap(nullptr, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd_, static_cast<off_t>(off));
    if (p == MAP_FAILED) return MakeError(Code::kIo, path_, "cannot map: " + ErrnoText());
    fn(Bytes(static_cast<const char*>(p), len));
    ::munmap(p, len);
  }
  return {};
}

namespace {

// Resident file-backed bytes of this process (/proc/self/statm, "shared").
// The kernel may map more than a reader touches: 64 KB of fault-around, and
// whole large folios (up to 2 MB) of a page cache filled by big reads, so
// the budget is checked against what is really resident.
uint64_t ResidentFileBytes() {
  static const long page = ::sysconf(_SC_PAGESIZE);
  int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ~uint64_t{0};
  char buf[128];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return ~uint64_t{0};
  buf[n] = '\0';
  unsigned long size = 0, resident = 0, shared = 0;
  if (std::sscanf(buf, "%lu %lu %lu", &size, &resident, &shared) != 3) return ~uint64_t{0};
  return static_cast<uint64_t>(shared) * static_cast<uint64_t>(page);
}

}  // namespace

void MappedFile::Touch(uint64_t n) const {
  // Counted with the fault-around a random read costs; every kCheckEvery of it,
  // the real resident size decides (see ResidentFileBytes).
  n += kFaultAround;
  if (touched_.fetch_add(n, std::memory_order_relaxed) + n < kCheckEvery) return;
  touched_.store(0, std::memory_order_relaxed);
  if (ResidentFileBytes() < kResidentBudget) return;
  if (data_ != nullptr && !borrowed_) ::madvise(const_cast<char*>(data_), size_, MADV_DONTNEED);
}

void MappedFile::PrefetchInBackground() {
  if (borrowed_ || prefetcher_.joinable() || size_ <= kPrefetchChunk) return;
  prefetcher_ = std::thread([this] {
    for (uint64_t off = 0; off < size_ && !stop_prefetch_; off += kPrefetchChunk) {
      // readahead(2) blocks until the chunk is in the page cache.
      if (::readahead(fd_, static_cast<off64_t>(off), kPrefetchChunk) != 0) return;
    }
  });
}

}  // namespace cpr
