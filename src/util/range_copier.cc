#include "util/range_copier.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cpr {
namespace {

constexpr size_t kBufferSize = 8 << 20;
constexpr uint64_t kWriteBackSpan = 32 << 20;

Error WriteError(const std::string& path) {
  return MakeError(Code::kIo, path, std::string("cannot write: ") + std::strerror(errno));
}

}  // namespace

RangeCopier::RangeCopier(const MappedFile& source, int out_fd, std::string out_path)
    : source_(source),
      out_fd_(out_fd),
      out_path_(std::move(out_path)),
      in_kernel_(source.fd() >= 0 && std::getenv("CPR_NO_COPY_FILE_RANGE") == nullptr) {}

Result<void> RangeCopier::Copy(uint64_t offset, uint64_t length) {
  if (offset + length > source_.size())
    return MakeError(Code::kInternal, source_.path(), "copy past the end of the file");
  uint64_t done = 0;
  while (in_kernel_ && done < length) {
    loff_t in = static_cast<loff_t>(offset + done), out = in;
    const ssize_t n = ::copy_file_range(source_.fd(), &in, out_fd_, &out, length - done, 0);
    if (n > 0) {
      done += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // Not possible between these files (EXDEV, EOPNOTSUPP, EINVAL, ENOSYS)
    // or a short source: the buffer does the rest, and what follows.
    if (n < 0 && errno != EXDEV && errno != EOPNOTSUPP && errno != EINVAL && errno != ENOSYS)
      return WriteError(out_path_);
    in_kernel_ = false;
  }
  if (done < length) CPR_RETURN_IF_ERROR(CopyThroughBuffer(offset + done, length - done));
  bytes_ += length;
  // Write-back in large spans: one per small range would make later copies
  // wait on pages under write-back (seen: 5x slower).
  if (pending_end_ == 0) pending_begin_ = offset;
  pending_begin_ = std::min(pending_begin_, offset);
  pending_end_ = std::max(pending_end_, offset + length);
  if (pending_end_ - pending_begin_ >= kWriteBackSpan) StartWriteBack();
  return {};
}

void RangeCopier::StartWriteBack() {
  if (pending_end_ > pending_begin_)
    ::sync_file_range(out_fd_, static_cast<off_t>(pending_begin_),
                      static_cast<off_t>(pending_end_ - pending_begin_), SYNC_FILE_RANGE_WRITE);
  pending_begin_ = pending_end_ = 0;
}

Result<void> RangeCopier::CopyThroughBuffer(uint64_t offset, uint64_t length) {
  if (buffer_.empty()) buffer_.resize(kBufferSize);
  for (uint64_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBufferSize, length - done));
    CPR_RETURN_IF_ERROR(source_.ReadAt(offset + done, buffer_.data(), n));
    for (size_t w = 0; w < n;) {
      const ssize_t k =
          ::pwrite(out_fd_, buffer_.data() + w, n - w, static_cast<off_t>(offset + done + w));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return WriteError(out_path_);
      w += static_cast<size_t>(k);
    }
    done += n;
  }
  return {};
}

}  // namespace cpr
