// LiveScan: the keys alive at a revision, streamed in key order in bounded
// memory, for `snapshot ls` and `diff` on files up to etcd's 8 GB.
//
// The `key` bucket is ordered by revision and its leaves lie at random
// places in the file, so reading records in key order costs a random read
// each. Instead the bucket's leaves are learned from its branch pages
// (bolt/page_index.h TreeLeaves) and read in file order with large reads,
// in slices two threads take in turn. Every record at or below the
// revision under the prefix becomes a small entry: its user key, revision,
// the KeyValue's fields but the value (only the value's size and CRC-32C),
// where the record lies in the file, and a caller's note (what the command
// will print of it, computed here, on the pass's threads, rather than by a
// random read later). Entries are sorted in runs of a bounded size, each keeping only a
// key's newest record; runs that do not fit the memory budget wait in
// temporary files (util/spool.h). Next() merges the runs and keeps, per
// key, its newest record, skipping deleted keys.
//
// Memory: the budget (24 MB by default), 8 bytes per leaf of the tree, and
// read buffers for the spilled runs (a quarter of the budget between them,
// at most 256 KB each); Diff adds up to 3 batches of ~0.5 MB in flight.
// Disk: the entries that do not fit, about key + note + 90 bytes each.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "etcd/backend.h"
#include "etcd/mvcc.h"

namespace cpr::etcd {

// One live key. Its views live until the next LiveScan::Next().
struct LiveEntry {
  Bytes key;
  Revision rev;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
  uint64_t value_size = 0;
  uint32_t value_crc = 0;      // CRC-32C of the value: unequal CRCs, unequal values
  uint64_t record_offset = 0;  // the KeyValue record in the file
  uint64_t record_size = 0;
  Bytes note;  // what LiveScanOptions::annotate wrote
};

struct LiveScanOptions {
  int64_t revision = 0;  // REQUIRES: from ResolveRevision
  std::string prefix;
  // Called for every record kept while the file streams by, from the
  // pass's threads at once (so it must be thread-safe); may be empty.
  std::function<void(const Record&, std::string& note)> annotate;
  bool crc_values = false;               // fill LiveEntry::value_crc (Diff compares fewer values)
  int threads = 2;                       // for the pass: 2, or 1 (its halves one after the other)
  uint64_t memory_budget = 24ULL << 20;  // entries held in memory before runs spill
};

class LiveScan {
 public:
  // Reads the bucket's tree; a fault on one of its pages is an error
  // naming the page.
  static Result<std::unique_ptr<LiveScan>> Start(const Backend& backend,
                                                 const LiveScanOptions& options);
  ~LiveScan();

  // The next live key in key order; nullptr after the last.
  Result<const LiveEntry*> Next();

  // The whole record of `e` (one pread). Its views live until the next
  // Read() on this scan. Read() and Next() may run on two threads at once.
  Result<Record> Read(const LiveEntry& e);
  // The same into `buf` (its views live as long as it is unchanged): safe
  // on any thread.
  Result<Record> Read(const LiveEntry& e, std::string& buf) const;

  struct Run;  // a sorted run of entries (live_scan.cc)

 private:
  explicit LiveScan(const Backend& backend);
  Result<void> Pass(const LiveScanOptions& options);

  const Backend& backend_;
  std::vector<std::unique_ptr<Run>> runs_;
  std::vector<size_t> heap_;  // runs with an entry left, a min-heap by entry
  bool started_ = false;
  uint64_t read_budget_ = 0;  // for the runs' read buffers, shared
  LiveEntry current_;
  std::string current_bytes_;  // key and note of current_
  std::string record_;         // the record last Read()
};

// Merge-walk of two scans in key order. Values are compared exactly: entries
// whose lease, version, value size and CRC all agree are read and compared.
// The walk runs on a thread of its own; `visit` is called on the caller's,
// in key order.
struct DiffVisitor {
  std::function<Result<void>(const LiveEntry& b)> added;
  std::function<Result<void>(const LiveEntry& a)> removed;
  std::function<Result<void>(const LiveEntry& a, const LiveEntry& b)> changed;
  std::function<void()> unchanged;
};
Result<void> Diff(LiveScan& a, LiveScan& b, const DiffVisitor& visit);

}  // namespace cpr::etcd
