// RangeCopier: copies byte ranges of one file to the same offsets of
// another. In the kernel with copy_file_range(2) when the two filesystems
// allow it: no pass through user space, about 4x cheaper than pread+pwrite
// on the VMs measured (bench/RESULTS.md). Else (another filesystem type, an
// old kernel, a file held in memory, or CPR_NO_COPY_FILE_RANGE=1 set by the
// tests) through a buffer. Each range is handed to write-back as it is
// copied, so a final fsync has little left to wait for.
#pragma once

#include <cstdint>
#include <string>

#include "util/mapped_file.h"
#include "util/result.h"

namespace cpr {

class RangeCopier {
 public:
  // `out_fd` stays owned by the caller; `out_path` names it in errors.
  RangeCopier(const MappedFile& source, int out_fd, std::string out_path);

  Result<void> Copy(uint64_t offset, uint64_t length);
  // Hands what was copied since the last call to write-back (Copy does it
  // every 32 MB); call it after the last Copy.
  void StartWriteBack();

  bool in_kernel() const { return in_kernel_; }
  uint64_t bytes() const { return bytes_; }

 private:
  Result<void> CopyThroughBuffer(uint64_t offset, uint64_t length);

  const MappedFile& source_;
  int out_fd_;
  std::string out_path_;
  bool in_kernel_;
  std::string buffer_;
  uint64_t bytes_ = 0;
  uint64_t pending_begin_ = 0, pending_end_ = 0;  // copied, not yet handed to write-back
};

}  // namespace cpr
