#include "util/background_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cpr {

BackgroundWriter::BackgroundWriter(int fd, std::string path, uint64_t offset)
    : fd_(fd), path_(std::move(path)), end_offset_(offset), thread_([this] { Run(); }) {}

BackgroundWriter::~BackgroundWriter() { (void)Finish(); }

Result<void> BackgroundWriter::Append(std::string chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < kMaxQueued || error_; });
  if (error_) return *error_;
  const uint64_t at = end_offset_;
  end_offset_ += chunk.size();
  queue_.emplace_back(at, std::move(chunk));
  cv_.notify_all();
  return {};
}

std::string BackgroundWriter::TakeSpare() {
  std::lock_guard<std::mutex> lock(mu_);
  if (spare_.empty()) return {};
  std::string s = std::move(spare_.back());
  spare_.pop_back();
  return s;
}

Result<void> BackgroundWriter::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (error_) return *error_;
  return {};
}

void BackgroundWriter::Run() {
  for (;;) {
    std::pair<uint64_t, std::string> item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || done_; });
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    auto& [offset, chunk] = item;
    size_t done = 0;
    while (done < chunk.size()) {
      ssize_t n = ::pwrite(fd_, chunk.data() + done, chunk.size() - done,
                           static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = MakeError(Code::kIo, path_, std::string("cannot write: ") + std::strerror(errno));
        queue_.clear();
        cv_.notify_all();
        return;
      }
      done += static_cast<size_t>(n);
    }
    ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(chunk.size()),
                      SYNC_FILE_RANGE_WRITE);
    chunk.clear();
    std::lock_guard<std::mutex> lock(mu_);
    if (spare_.size() <= kMaxQueued) spare_.push_back(std::move(chunk));
    cv_.notify_all();
  }
}

}  // namespace cpr
