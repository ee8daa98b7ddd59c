// etcd's write-ahead log (etcd-formats.md §5.5): the records a restored
// member needs to boot, and a reader that checks a WAL's framing and CRC
// chain (used to self-test what restore wrote, and by tests).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "etcd/membership.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cpr::etcd {

// walpb.Record types (§5.5.3).
enum class WalRecordType : int64_t {
  kMetadata = 1,
  kEntry = 2,
  kState = 3,
  kCrc = 4,
  kSnapshot = 5
};

// WAL segment size etcd preallocates: 64,000,000 bytes (§5.5.1).
constexpr uint64_t kWalSegmentBytes = 64ULL * 1000 * 1000;
// The one segment restore writes (§5.5.1).
inline constexpr const char* kFirstWalSegment = "0000000000000000-0000000000000000.wal";

// Appends framed records with the CRC chain (§5.5.2, §5.5.3).
class WalEncoder {
 public:
  // `crc`: the chain's value so far (0 for a new segment; the last record's
  // CRC to append to an existing one).
  explicit WalEncoder(uint32_t crc = 0) : crc_(crc) {}
  void Record(WalRecordType type, const std::string& data);
  // A crc record carrying the running CRC (`crc`), no data.
  void CrcRecord(uint32_t crc);
  const std::string& bytes() const { return out_; }

 private:
  void Frame(const std::string& record);
  std::string out_;
  uint32_t crc_ = 0;
};

// The records of §5.5.4 for the local member of `m`.
std::string RestoreWalRecords(const Membership& m);

struct WalRecord {
  int64_t type = 0;
  uint32_t crc = 0;
  std::string data;
};

// Decodes records until a zero length field or the end; checks framing and
// the CRC chain. Errors name the record's offset.
Result<std::vector<WalRecord>> DecodeWal(Bytes segment);
// The same, keeping the records before a fault; `tail` then says what ended
// the read there ("" when the segment was read to its end).
// `end` (when given) gets the offset just past the last record kept.
std::vector<WalRecord> DecodeWalPrefix(Bytes segment, std::string* tail, size_t* end = nullptr);

// For a member about to run alone (restore-quorum --from-data-dir): appends
// to the newest segment of `wal_dir` a HardState whose commit is the log's
// last entry, so that etcd --force-new-cluster applies every entry the
// member had logged instead of dropping those past its own commit index:
// a write the old quorum committed just before the loss may not have
// reached this member's commit index yet. Returns how many entries that
// adds (0: nothing written).
Result<uint64_t> CommitLoggedEntries(const std::string& wal_dir);

}  // namespace cpr::etcd
