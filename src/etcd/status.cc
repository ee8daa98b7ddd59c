#include "etcd/status.h"

#include <fmt/format.h>

#include <map>

#include "bolt/page_index.h"
#include "etcd/live_keys.h"
#include "etcd/snapshot_file.h"
#include "util/hash.h"
#include "util/text.h"

namespace cpr::etcd {
namespace {

// What status needs of one leaf-looking page, computed as the file streams
// by (bolt/page_index.h); used only if the tree reaches the page. Kept
// small: a 2 GB snapshot has ~150k of them.
struct LeafSummary {
  uint32_t crc = 0;  // CRC-32C of its keys and values (nested buckets: key only)
  uint32_t count = 0;
  uint32_t overflow = 0;
  uint32_t used = 0;                     // bytes up to the end of the last element (fill)
  uint64_t hashed = 0;                   // bytes in that CRC
  uint64_t kv_bytes = 0;                 // key + value bytes
  uint64_t first_key = 0, last_key = 0;  // into the key arena
  uint16_t first_size = 0, last_size = 0;
  uint32_t records_begin = 0, records_end = 0;  // into records (key bucket candidates)
  bool odd = false;  // has a fault or nested buckets: see LeafSummaries::Odd
};

struct OddLeaf {
  std::string fault;                                        // element bounds or order
  std::vector<std::pair<std::string, std::string>> nested;  // nested bucket elements
};

class LeafSummaries {
 public:
  explicit LeafSummaries(uint64_t pgid) : slot_(pgid, kNone) {
    // Address space only, touched as used: growing by doubling would copy
    // (and fault in) every summary again.
    leaves_.reserve(pgid);
    records_.reserve(pgid * 4);
    arena_.reserve(pgid * 40);
  }

  void Add(const bolt::PageView& page) {
    LeafSummary s;
    OddLeaf odd;
    s.overflow = page.overflow();
    s.count = page.count();
    s.records_begin = static_cast<uint32_t>(records_.size());
    Bytes previous;
    if (!page.CheckElementArray()) {
      odd.fault = "element array out of bounds";
    } else {
      for (size_t i = 0; i < page.count(); i++) {
        auto e = page.Leaf(i);
        if (!e) {
          odd.fault = e.error().what;
          break;
        }
        if (i > 0 && !(previous < e->key))
          odd.fault = fmt::format("leaf element {}: key is not after the previous key", i);
        previous = e->key;
        // Key and value are adjacent (§1.6): one CRC call for both.
        const Bytes hashed =
            e->is_bucket() ? e->key : Bytes(e->key.data(), e->key.size() + e->value.size());
        s.crc = Crc32c(s.crc, hashed);
        s.hashed += hashed.size();
        s.kv_bytes += e->key.size() + e->value.size();
        s.used = static_cast<uint32_t>(e->value.data() + e->value.size() - page.bytes().data());
        if (i == 0) s.first_key = Keep(e->key, s.first_size);
        if (i + 1 == page.count()) s.last_key = Keep(e->key, s.last_size);
        if (e->is_bucket()) odd.nested.emplace_back(std::string(e->key), std::string(e->value));
        auto rev = Revision::Parse(e->key);
        if (rev) {
          auto user = KeyValueUserKey(e->value);
          // The fingerprint with the tombstone mark in its lowest bit.
          if (user)
            records_.push_back((std::hash<std::string_view>{}(*user) & ~1ULL) | rev->tombstone);
        }
      }
    }
    s.records_end = static_cast<uint32_t>(records_.size());
    if (!odd.fault.empty() || !odd.nested.empty()) {
      s.odd = true;
      odd_[page.id()] = std::move(odd);
    }
    slot_[page.id()] = static_cast<uint32_t>(leaves_.size());
    leaves_.push_back(s);
  }

  const LeafSummary* Find(bolt::Pgid id) const {
    return slot_[id] == kNone ? nullptr : &leaves_[slot_[id]];
  }
  const OddLeaf& Odd(bolt::Pgid id) const { return odd_.at(id); }
  Bytes Key(uint64_t offset, uint64_t size) const { return Bytes(arena_).substr(offset, size); }
  const std::vector<uint64_t>& records() const { return records_; }

 private:
  static constexpr uint32_t kNone = ~uint32_t{0};
  uint64_t Keep(Bytes key, uint16_t& size) {
    const uint64_t at = arena_.size();
    // bbolt keys are at most 32768 bytes (§1.6); longer is corrupt anyway.
    const Bytes kept = key.substr(0, 0xffff);
    arena_.append(kept);
    size = static_cast<uint16_t>(kept.size());
    return at;
  }
  std::vector<LeafSummary> leaves_;
  std::vector<uint32_t> slot_;  // page id -> index in leaves_
  std::map<bolt::Pgid, OddLeaf> odd_;
  std::string arena_;
  std::vector<uint64_t> records_;
};

// Page fill: bytes up to the end of a page's last element.
uint64_t UsedBytes(const bolt::PageView& page) {
  const size_t n = page.count();
  if (n == 0) return bolt::kPageHeaderSize;
  auto e = page.Leaf(n - 1);
  return e ? static_cast<uint64_t>(e->value.data() + e->value.size() - page.bytes().data()) : 0;
}

}  // namespace

Result<Status> ComputeStatus(const Backend& backend) {
  const bolt::Reader& r = backend.reader();
  Status s;
  s.page_size = r.page_size();
  s.txid = r.meta().txid;
  s.total_size = r.meta().pgid * r.page_size();
  s.has_trailer = HasHashTrailer(r.file().size());

  // Pass 1: the file front to back, its two halves on two threads (the
  // per-leaf CRCs and fingerprints are most of the work).
  std::vector<LeafSummaries> parts;
  parts.reserve(2);
  parts.emplace_back(r.meta().pgid);
  parts.emplace_back(r.meta().pgid);
  bolt::PageIndex index = CPR_TRY(bolt::PageIndex::BuildInParts(
      r, 2, [&](const bolt::PageView& p, int part) { parts[part].Add(p); }));

  // Pass 2: the trees, through the index, in key order (§4.1 step 5).
  std::vector<std::string> faults;
  std::vector<bolt::Pgid> root_leaves;
  index.Leaves(r.meta().root, root_leaves, faults);
  Crc32cJoiner hash;
  LiveKeyCounter live;
  const std::string& file = r.name();
  for (bolt::Pgid root_leaf : root_leaves) {
    auto page = r.Page(root_leaf);
    if (!page) return page.error();
    CPR_RETURN_IF_ERROR(page->CheckElementArray());
    s.leaf_pages++;
    s.tree_bytes += page->bytes().size();
    s.used_bytes += UsedBytes(*page);
    for (size_t i = 0; i < page->count(); i++) {
      bolt::LeafElement b = CPR_TRY(page->Leaf(i));
      if (!b.is_bucket())
        return MakeError(Code::kCorrupt, file,
                         fmt::format("cannot get hash of bucket {}", Printable(b.key)));
      bolt::BucketRef ref =
          CPR_TRY(bolt::ParseBucketValue(b.value, file + " bucket " + Printable(b.key)));
      hash.AppendBytes(b.key);
      BucketStats stats{std::string(b.key), 0, 0, ref.is_inline(), 0, 0, 0};
      const bool key_bucket = b.key == kKeyBucket;
      if (ref.is_inline()) {
        bolt::PageView inl(ref.inline_page, &file, 0, true);
        if (!inl.is_leaf())
          return inl.Corrupt(fmt::format("bucket {}: inline page is a {} page, not a leaf",
                                         Printable(b.key), bolt::PageTypeName(inl.flags())));
        CPR_RETURN_IF_ERROR(inl.CheckElementArray());
        for (size_t k = 0; k < inl.count(); k++) {
          bolt::LeafElement e = CPR_TRY(inl.Leaf(k));
          hash.AppendBytes(e.key);
          if (!e.is_bucket()) hash.AppendBytes(e.value);
          stats.keys++;
          stats.bytes += e.key.size() + e.value.size();
          if (key_bucket) {
            auto rev = Revision::Parse(e.key);
            if (!rev)
              return MakeError(Code::kCorrupt, file,
                               "key bucket holds a key that is not a revision");
            s.revision = rev->main;
            auto user = KeyValueUserKey(e.value);
            if (user) live.Add(*user, rev->tombstone);
          }
        }
      } else {
        const uint64_t branches_before = index.branch_pages_reached();
        std::vector<bolt::Pgid> leaves;
        index.Leaves(ref.root, leaves, faults);
        stats.branch_pages = index.branch_pages_reached() - branches_before;
        Bytes previous_last;
        for (bolt::Pgid id : leaves) {
          const LeafSummaries& summaries = parts[index.part(id)];
          const LeafSummary* sum = summaries.Find(id);
          if (sum == nullptr) {
            faults.push_back(fmt::format("page {}: not a leaf page", id));
            continue;
          }
          const OddLeaf* odd = sum->odd ? &summaries.Odd(id) : nullptr;
          if (odd && !odd->fault.empty())
            faults.push_back(fmt::format("page {}: {}", id, odd->fault));
          if (sum->count > 0) {
            const Bytes first = summaries.Key(sum->first_key, sum->first_size);
            if (!previous_last.empty() && !(previous_last < first))
              faults.push_back(
                  fmt::format("page {}: first key is not after the previous page's last key", id));
            previous_last = summaries.Key(sum->last_key, sum->last_size);
          }
          hash.Append(sum->crc, sum->hashed);
          stats.keys += sum->count;
          stats.bytes += sum->kv_bytes;
          stats.leaf_pages++;
          stats.overflow_pages += sum->overflow;
          s.tree_bytes += (uint64_t{sum->overflow} + 1) * r.page_size();
          s.used_bytes += sum->used;
          for (const auto& [name, value] :
               odd ? odd->nested : std::vector<std::pair<std::string, std::string>>{}) {
            auto nested = bolt::ParseBucketValue(value, "nested bucket");
            std::vector<bolt::Pgid> ignored;
            if (nested && !nested->is_inline()) index.Leaves(nested->root, ignored, faults);
          }
          if (key_bucket) {
            for (uint64_t k = sum->records_begin; k < sum->records_end; k++) {
              const uint64_t rec = summaries.records()[k];
              live.AddFingerprint(rec & ~1ULL, rec & 1);
            }
            if (sum->count > 0) {
              auto rev = Revision::Parse(summaries.Key(sum->last_key, sum->last_size));
              if (!rev)
                faults.push_back(
                    fmt::format("page {}: key bucket holds a key that is not a revision", id));
              else
                s.revision = rev->main;
            }
          }
        }
        s.branch_pages += stats.branch_pages;
        s.leaf_pages += stats.leaf_pages;
        s.overflow_pages += stats.overflow_pages;
      }
      s.total_key += stats.keys;
      s.buckets.push_back(std::move(stats));
    }
  }
  if (!faults.empty()) {
    std::string list;
    for (size_t i = 0; i < faults.size() && i < 5; i++) list += "\n  " + faults[i];
    return MakeError(Code::kCorrupt, backend.name(),
                     fmt::format("structure check failed ({} faults):{}", faults.size(), list),
                     "run `cpr snapshot verify` for every fault");
  }
  s.hash = hash.crc();
  s.live_keys = live.count();
  s.free_pages = r.meta().pgid - index.reachable_pages();

  MetaInfo meta = CPR_TRY(backend.Meta());
  s.consistent_index = meta.consistent_index;
  s.compact_revision = meta.finished_compact;
  s.scheduled_compact_revision = meta.scheduled_compact;
  s.cluster_version = CPR_TRY(backend.ClusterVersion());
  s.members = CPR_TRY(backend.Members());
  s.alarms = CPR_TRY(backend.Alarms());
  s.auth = CPR_TRY(backend.Auth());
  s.leases = CPR_TRY(backend.Leases()).size();
  return s;
}

}  // namespace cpr::etcd
