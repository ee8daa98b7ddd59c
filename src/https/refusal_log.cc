#include "https/refusal_log.h"

#include <fmt/format.h>

#include <algorithm>

namespace cpr::https {

RefusalLog::RefusalLog(std::function<void(const std::string&)> sink, Config config)
    : sink_(std::move(sink)), config_(config), tokens_(config.burst) {}

bool RefusalLog::WriteAt(const std::string& line, Clock::time_point now) {
  std::string text;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (started_ && now > last_) {
      const double refill = std::chrono::duration<double>(now - last_) /
                            std::chrono::duration<double>(config_.interval);
      tokens_ = std::min<double>(config_.burst, tokens_ + refill);
    }
    if (!started_ || now > last_) last_ = now;
    started_ = true;
    if (written_ >= config_.max_lines || tokens_ < 1) {
      suppressed_++;
      suppressed_since_++;
      return false;
    }
    tokens_ -= 1;
    written_++;
    text = line;
    if (suppressed_since_)
      text += fmt::format(" ({} similar refusal(s) before this one not logged: rate limit)",
                          suppressed_since_);
    suppressed_since_ = 0;
    if (written_ == config_.max_lines)
      text += fmt::format(
          " (the last of {} refusal lines this server writes; further ones are only counted)",
          config_.max_lines);
  }
  if (sink_) sink_(text);
  return true;
}

int64_t RefusalLog::suppressed() const {
  std::lock_guard<std::mutex> g(mu_);
  return suppressed_;
}

}  // namespace cpr::https
