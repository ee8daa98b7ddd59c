// PipelinedCrc32c: CRC-32C of a sequence of byte spans, computed on a second
// thread while the caller goes on producing spans.
//
// The status hash (etcd-formats.md §4.1) is one CRC over every bucket name,
// key and value in tree order. Walking the tree (page faults, bounds checks)
// and hashing the bytes (and faulting in overflow pages) are both heavy, so
// they run on two cores: the walker hands spans over in batches, in order,
// and the CRC comes out exactly as if computed inline.
//
// The spans must stay readable until Finish() returns.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "util/bytes.h"

namespace cpr {

class PipelinedCrc32c {
 public:
  PipelinedCrc32c();
  ~PipelinedCrc32c();
  PipelinedCrc32c(const PipelinedCrc32c&) = delete;
  PipelinedCrc32c& operator=(const PipelinedCrc32c&) = delete;

  void Add(Bytes span) {
    batch_.push_back(span);
    batch_bytes_ += span.size();
    if (batch_.size() >= kBatch || batch_bytes_ >= kBatchBytes) Flush();
  }
  // Waits for every span to be hashed; returns the CRC (seed 0).
  uint32_t Finish();

 private:
  // In flight at most kMaxBatchesInFlight x kBatchBytes (8 MB): the hasher
  // touches mapped pages the walker has already accounted for, so its lag
  // must stay small for resident memory to stay bounded.
  static constexpr size_t kBatch = 512;
  static constexpr size_t kBatchBytes = 1 << 20;
  static constexpr size_t kMaxBatchesInFlight = 8;
  void Flush();
  void Run();

  std::vector<Bytes> batch_;
  size_t batch_bytes_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<Bytes>> queue_;
  bool done_ = false;
  uint32_t crc_ = 0;
  std::thread thread_;
};

}  // namespace cpr
