#include "util/pipelined_crc.h"

#include "util/hash.h"

namespace cpr {

PipelinedCrc32c::PipelinedCrc32c() : thread_([this] { Run(); }) { batch_.reserve(kBatch); }

PipelinedCrc32c::~PipelinedCrc32c() {
  if (thread_.joinable()) Finish();
}

void PipelinedCrc32c::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < kMaxBatchesInFlight; });
  queue_.push_back(std::move(batch_));
  batch_ = {};
  batch_.reserve(kBatch);
  batch_bytes_ = 0;
  cv_.notify_all();
}

void PipelinedCrc32c::Run() {
  uint32_t crc = 0;
  for (;;) {
    std::vector<Bytes> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || done_; });
      if (queue_.empty()) break;
      work = std::move(queue_.front());
      queue_.pop_front();
      cv_.notify_all();
    }
    for (Bytes span : work) crc = Crc32c(crc, span);
  }
  crc_ = crc;
}

uint32_t PipelinedCrc32c::Finish() {
  if (!batch_.empty()) Flush();
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  thread_.join();
  return crc_;
}

}  // namespace cpr
