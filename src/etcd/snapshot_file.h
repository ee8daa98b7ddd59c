// The SHA-256 trailer of `etcdctl snapshot save` files (etcd-formats.md §3).
//
// A snapshot is the bbolt image followed by 32 bytes: SHA-256 of everything
// before them. Whether a file has the trailer is decided from its size alone,
// as etcd does: size % 512 == 32 (§3.2). A raw `member/snap/db` has none.
#pragma once

#include <cstdint>
#include <string>
#include <thread>

#include "util/mapped_file.h"
#include "util/result.h"

namespace cpr::etcd {

constexpr uint64_t kTrailerSize = 32;

inline bool HasHashTrailer(uint64_t file_size) {
  return file_size >= kTrailerSize && file_size % 512 == kTrailerSize;
}

struct TrailerCheck {
  bool present = false;
  bool matches = false;
  std::string stored_hex;    // the trailer
  std::string computed_hex;  // SHA-256 of the bytes before it
  std::string file_hex;      // SHA-256 of the whole file, trailer included (a backup
                             // manifest records this one)
};

// Hashes the file's first size-32 bytes (streaming, bounded memory).
TrailerCheck CheckTrailer(const MappedFile& file);

// Checks the trailer on a second thread while a command walks the file, so
// the check costs no wall time on two cores. Does nothing for a file without
// a trailer. The file must outlive this object.
class BackgroundTrailerCheck {
 public:
  explicit BackgroundTrailerCheck(const MappedFile& file);
  ~BackgroundTrailerCheck();
  BackgroundTrailerCheck(const BackgroundTrailerCheck&) = delete;
  BackgroundTrailerCheck& operator=(const BackgroundTrailerCheck&) = delete;
  // Joins the thread; a Corrupt error when the trailer does not match.
  Result<void> Wait();

 private:
  const MappedFile& file_;
  TrailerCheck result_;
  std::thread thread_;
};

}  // namespace cpr::etcd
