#include "util/spool.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cpr {

Spool::Spool(size_t memory_limit) : memory_limit_(memory_limit) {}

Spool::~Spool() {
  if (file_ != nullptr) std::fclose(file_);
}

Error Spool::Fail(const std::string& what) const {
  return MakeError(Code::kIo, "temporary file", what + ": " + std::strerror(errno),
                   "free space under $TMPDIR (default /tmp)");
}

// Moves what is in memory to the temporary file (made on first use).
Result<void> Spool::Spill() {
  if (file_ == nullptr) {
    if ((file_ = std::tmpfile()) == nullptr) return Fail("cannot make a temporary file");
    // Unbuffered: writes are whole chunks of memory_, reads go through
    // read_buffer_ (stdio's own buffer is 4 KB whatever setvbuf asks
    // without a buffer: 25 k read(2) calls for `ls` of 2 GB).
    if (std::setvbuf(file_, nullptr, _IONBF, 0) != 0) return Fail("cannot set up a temporary file");
  }
  if (std::fwrite(memory_.data(), 1, memory_.size(), file_) != memory_.size())
    return Fail("cannot write to a temporary file");
  memory_.clear();
  return {};
}

Result<void> Spool::Append(Bytes data) {
  memory_.append(data);
  size_ += data.size();
  // Past the limit everything goes to the file, in chunks of 1 MB.
  if (file_ == nullptr ? memory_.size() > memory_limit_ : memory_.size() >= (1 << 20))
    return Spill();
  return {};
}

Result<void> Spool::Rewind() {
  read_at_ = buffered_ = 0;
  if (file_ == nullptr) return {};
  if (!memory_.empty()) CPR_RETURN_IF_ERROR(Spill());
  std::string().swap(memory_);  // its 1 MB of chunk capacity is not needed to read
  if (std::fflush(file_) != 0) return Fail("cannot write to a temporary file");
  std::rewind(file_);
  return {};
}

Result<size_t> Spool::Read(char* buf, size_t n) {
  if (file_ == nullptr) {
    n = std::min(n, memory_.size() - read_at_);
    std::memcpy(buf, memory_.data() + read_at_, n);
    read_at_ += n;
    return n;
  }
  if (read_buffer_.empty()) read_buffer_.resize(read_buffer_size_);
  size_t done = 0;
  while (done < n) {
    if (read_at_ == buffered_) {
      buffered_ = std::fread(read_buffer_.data(), 1, read_buffer_.size(), file_);
      read_at_ = 0;
      if (buffered_ == 0) {
        if (std::ferror(file_)) return Fail("cannot read back a temporary file");
        break;
      }
    }
    const size_t k = std::min(n - done, buffered_ - read_at_);
    std::memcpy(buf + done, read_buffer_.data() + read_at_, k);
    read_at_ += k;
    done += k;
  }
  return done;
}

}  // namespace cpr
