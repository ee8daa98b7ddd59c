// Spool: bytes appended now and read back later, in order, in bounded
// memory. The first `memory_limit` bytes stay in memory; past that
// everything goes to an unlinked temporary file (tmpfile(3), under $TMPDIR
// or /tmp). For output that must be whole before it is printed (a table's
// widths need every row) and for sorted runs that do not fit in memory.
//
// Not thread-safe. Reading starts with Rewind(); appending after a Rewind()
// is not supported.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace cpr {

class Spool {
 public:
  explicit Spool(size_t memory_limit);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  Result<void> Append(Bytes data);
  uint64_t size() const { return size_; }

  // Starts reading from the first byte.
  Result<void> Rewind();
  // Reads up to n bytes; fewer only at the end (0: nothing left).
  Result<size_t> Read(char* buf, size_t n);
  // The buffer reads of a spilled spool go through (default 64 KB; set
  // before the first Read): many spools read at once share a budget.
  void set_read_buffer(size_t bytes) { read_buffer_size_ = std::max<size_t>(bytes, 4096); }

 private:
  Error Fail(const std::string& what) const;
  Result<void> Spill();

  size_t memory_limit_;
  std::string memory_;
  std::FILE* file_ = nullptr;  // unbuffered
  uint64_t size_ = 0;
  size_t read_at_ = 0;  // into memory_, or (spilled) into read_buffer_
  size_t read_buffer_size_ = 64 << 10;
  std::string read_buffer_;  // allocated by the first Read() of a spilled spool
  size_t buffered_ = 0;      // bytes in read_buffer_
};

}  // namespace cpr
