#include "etcd/hashkv.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "etcd/mvcc.h"
#include "util/hash.h"

namespace cpr::etcd {
Result<HashKv> ComputeHashKv(const Backend& backend, int64_t rev) {
  HashKv out;
  out.compact_revision = CPR_TRY(backend.Meta()).finished_compact;
  // mvcc/kvstore.go restore: the store starts at revision 1 and moves to the
  // newest record, then to the compaction if that is higher.
  out.revision =
      std::max<int64_t>({1, CPR_TRY(backend.LatestRevision()).main, out.compact_revision});
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
  // R (mvcc.h LiveKeys is exactly that), in revision order for a merge walk.
  const KeySet live = CPR_TRY(LiveKeys(backend, out.hashed_revision, ""));
  std::vector<Revision> keep;
  keep.reserve(live.size());
  for (size_t i = 0; i < live.size(); i++) keep.push_back(live.revision(i));
  std::sort(keep.begin(), keep.end(), Earlier);

  uint32_t crc = Crc32c(0, kKeyBucket);
  size_t next_kept = 0;
  CPR_RETURN_IF_ERROR(backend.ScanRevisions(0, [&](const Revision& r, Bytes value) -> Result<bool> {
    if (r.main > out.hashed_revision) return false;
    if (r.main <= out.compact_revision && !keep.empty()) {
      while (next_kept < keep.size() && Earlier(keep[next_kept], r)) next_kept++;
      const bool kept = next_kept < keep.size() && keep[next_kept].main == r.main &&
                        keep[next_kept].sub == r.sub && !r.tombstone;
      if (!kept) return true;
    }
    crc = Crc32c(crc, r.Encode());
    crc = Crc32c(crc, value);
    return true;
  }));
  out.hash = crc;
  return out;
}

}  // namespace cpr::etcd
