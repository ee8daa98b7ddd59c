// BackgroundWriter: appends large sequential writes to a file on a second
// thread, so producing the bytes (walking a snapshot) and the disk (write
// and write-back) overlap. At most kMaxQueued chunks wait in memory.
//
// Each chunk is written with pwrite at the next offset and then handed to
// write-back (sync_file_range), so the final fsync has little left to do.
// The first error is kept and returned by every later call.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/result.h"

namespace cpr {

class BackgroundWriter {
 public:
  // `fd` stays owned by the caller and must outlive Finish(). Writes start
  // at `offset`.
  BackgroundWriter(int fd, std::string path, uint64_t offset);
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  // Queues `chunk` (moved) for writing; blocks while the queue is full.
  Result<void> Append(std::string chunk);
  // An empty string with the capacity of a chunk already written, when one
  // is free: reusing it spares a page fault per 4 KB of every new chunk.
  std::string TakeSpare();
  // Waits until every queued chunk is written (no fsync).
  Result<void> Finish();

  uint64_t offset() const { return end_offset_; }

 private:
  static constexpr size_t kMaxQueued = 3;
  void Run();

  int fd_;
  std::string path_;
  uint64_t end_offset_;  // where the next appended chunk goes
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<uint64_t, std::string>> queue_;
  std::vector<std::string> spare_;  // written chunks, cleared, for reuse
  bool done_ = false;
  std::optional<Error> error_;
  std::thread thread_;
};

}  // namespace cpr
