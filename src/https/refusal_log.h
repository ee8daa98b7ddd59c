// Rate-limited logging of refusals made before a caller is authenticated.
//
// Strangers choose how often they are refused; if every refusal were a line
// in the audit log, they would choose how large it grows. A token bucket
// lets bursts through (a misconfigured client is seen at once), then about
// one line per `interval`; what is dropped is counted and reported on the
// next line that passes. After `max_lines` lines in all, one last line says
// that further refusals are only counted. So the log written for strangers is
// bounded by max_lines whatever they send.
//
// Thread-safety: Write may be called from several threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace cpr::https {

class RefusalLog {
 public:
  using Clock = std::chrono::steady_clock;
  struct Config {
    int burst = 20;
    std::chrono::milliseconds interval{2000};  // one line per interval once the burst is spent
    int64_t max_lines = 5000;
  };
  RefusalLog(std::function<void(const std::string&)> sink, Config config);
  explicit RefusalLog(std::function<void(const std::string&)> sink)
      : RefusalLog(std::move(sink), Config{}) {}

  // Logs `line`, or counts it as suppressed. Returns whether it was written.
  bool Write(const std::string& line) { return WriteAt(line, Clock::now()); }
  bool WriteAt(const std::string& line, Clock::time_point now);

  int64_t suppressed() const;

 private:
  std::function<void(const std::string&)> sink_;
  Config config_;
  mutable std::mutex mu_;
  double tokens_;
  Clock::time_point last_{};
  bool started_ = false;
  int64_t written_ = 0;
  int64_t suppressed_ = 0;        // in all
  int64_t suppressed_since_ = 0;  // since the last line written
};

}  // namespace cpr::https
