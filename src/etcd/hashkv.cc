#include "etcd/hashkv.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "etcd/live_scan.h"
#include "etcd/mvcc.h"
#include "util/hash.h"
#include "util/spool.h"

namespace cpr::etcd {
namespace {

// The revisions a compaction at R keeps at or below the compacted revision,
// in revision order, in bounded memory: collected in key order (LiveScan),
// sorted in runs of at most `budget` bytes, the runs but the last in
// temporary files, then walked in step with the key bucket.
class KeptRevisions {
 public:
  explicit KeptRevisions(uint64_t budget)
      : per_run_(std::max<uint64_t>(budget / sizeof(Packed), 1024)) {}

  Result<void> Add(const Revision& r) {
    held_.push_back({r.main, r.sub});
    if (held_.size() >= per_run_) return Seal();
    return {};
  }

  Result<void> Finish() {
    std::sort(held_.begin(), held_.end());
    for (auto& run : runs_) CPR_RETURN_IF_ERROR(run->Start());
    return {};
  }

  // Whether `r` is kept. REQUIRES: called in revision order.
  Result<bool> Contains(const Revision& r) {
    const Packed want{r.main, r.sub};
    while (next_held_ < held_.size() && held_[next_held_] < want) next_held_++;
    bool found = next_held_ < held_.size() && held_[next_held_] == want;
    for (auto& run : runs_) {
      while (run->has_head && run->head < want) CPR_RETURN_IF_ERROR(run->Next());
      found = found || (run->has_head && run->head == want);
    }
    return found;
  }

 private:
  using Packed = std::pair<int64_t, int64_t>;  // main, sub: compared as Earlier
  static constexpr size_t kChunk = 1 << 20;
  struct Run {
    Spool spool{0};
    Packed head;
    bool has_head = false;
    Result<void> Start() {
      CPR_RETURN_IF_ERROR(spool.Rewind());
      return Next();
    }
    Result<void> Next() {
      const size_t got = CPR_TRY(spool.Read(reinterpret_cast<char*>(&head), sizeof head));
      if (got != 0 && got != sizeof head)
        return MakeError(Code::kInternal, "hashkv run", "an entry is cut short");
      has_head = got == sizeof head;
      return {};
    }
  };

  Result<void> Seal() {
    std::sort(held_.begin(), held_.end());
    auto run = std::make_unique<Run>();
    const Bytes bytes(reinterpret_cast<const char*>(held_.data()), held_.size() * sizeof(Packed));
    for (size_t at = 0; at < bytes.size(); at += kChunk)  // no second copy of the run
      CPR_RETURN_IF_ERROR(run->spool.Append(bytes.substr(at, kChunk)));
    runs_.push_back(std::move(run));
    held_.clear();
    return {};
  }

  const uint64_t per_run_;
  std::vector<Packed> held_;
  size_t next_held_ = 0;
  std::vector<std::unique_ptr<Run>> runs_;
};

}  // namespace

Result<HashKv> ComputeHashKv(const Backend& backend, int64_t rev, const HashKvOptions& options) {
  HashKv out;
  out.compact_revision = CPR_TRY(backend.Meta()).finished_compact;
  out.revision = StoreRevision(CPR_TRY(backend.LatestRevision()).main, out.compact_revision);
  if (rev > 0 && rev <= out.compact_revision)
    return MakeError(Code::kFailedPrecondition, "--rev",
                     fmt::format("mvcc: required revision has been compacted (revision {}, "
                                 "compacted at {})",
                                 rev, out.compact_revision),
                     "hash at a revision above the compaction, or leave --rev out");
  if (rev > out.revision)
    return MakeError(Code::kFailedPrecondition, "--rev",
                     fmt::format("mvcc: required revision is a future revision (revision {}, the "
                                 "store is at {})",
                                 rev, out.revision));
  out.hashed_revision = rev > 0 ? rev : out.revision;

  // What a compaction at R keeps: each live key's newest record at or below
  // R (a LiveScan is exactly that). Only those at or below the compacted
  // revision are ever asked about.
  KeptRevisions keep(options.memory_budget / 2);
  {
    LiveScanOptions o;
    o.revision = out.hashed_revision;
    o.threads = options.threads;
    o.memory_budget = options.memory_budget / 2;
    auto scan = CPR_TRY(LiveScan::Start(backend, o));
    for (;;) {
      const LiveEntry* e = CPR_TRY(scan->Next());
      if (e == nullptr) break;
      out.live_keys++;
      if (e->rev.main <= out.compact_revision) CPR_RETURN_IF_ERROR(keep.Add(e->rev));
    }
  }
  CPR_RETURN_IF_ERROR(keep.Finish());

  uint32_t crc = Crc32c(0, kKeyBucket);
  CPR_RETURN_IF_ERROR(backend.ScanRevisions(0, [&](const Revision& r, Bytes value) -> Result<bool> {
    if (r.main > out.hashed_revision) return false;
    // When no key is alive at R, nothing is skipped (key_index.go keep).
    if (r.main <= out.compact_revision && out.live_keys > 0 &&
        (r.tombstone || !CPR_TRY(keep.Contains(r))))
      return true;
    crc = Crc32c(crc, r.Encode());
    crc = Crc32c(crc, value);
    return true;
  }));
  out.hash = crc;
  return out;
}

}  // namespace cpr::etcd
