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
    std::setvbuf(file_, nullptr, _IOFBF, 256 << 10);
  }
  if (std::fwrite(memory_.data(), 1, memory_.size(), file_) != memory_.size())
    return Fail("cannot write to a temporary file");
  memory_.clear();
  return {};
}

Result<void> Spool::Append(Bytes data) {
  memory_.append(data);
  size_ += data.size();
  if (memory_.size() > memory_limit_ || (file_ != nullptr && memory_.size() >= (1 << 20)))
    return Spill();
  return {};
}

Result<void> Spool::Rewind() {
  read_at_ = 0;
  if (file_ == nullptr) return {};
  if (!memory_.empty()) CPR_RETURN_IF_ERROR(Spill());
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
  const size_t got = std::fread(buf, 1, n, file_);
  if (got < n && std::ferror(file_)) return Fail("cannot read back a temporary file");
  return got;
}

}  // namespace cpr
