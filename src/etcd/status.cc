#include "etcd/status.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "bolt/page_index.h"
#include "etcd/hashkv.h"
#include "etcd/live_keys.h"
#include "etcd/snapshot_file.h"
#include "util/hash.h"
#include "util/text.h"

namespace cpr::etcd {
namespace {

constexpr int kMaxDepth = 64;

// A key's first 8 bytes, zero-padded, as a number: a < b as numbers means
// a < b as keys; equal numbers need the keys themselves.
uint64_t KeyPrefix(Bytes key) {
  char b[8] = {};
  std::copy_n(key.data(), std::min<size_t>(key.size(), 8), b);
  return LoadBe64(b);
}

// What status keeps of one reachable leaf, by its rank in key order. Sums
// that do not depend on order (keys, bytes, pages) are not kept per leaf.
// 32 bytes: an 8 GB file has up to 2 M leaves.
struct LeafSummary {
  uint64_t first = 0, last = 0;  // KeyPrefix of its first and last key
  uint32_t crc = 0;              // CRC-32C of its keys and values (nested buckets: key only)
  uint32_t records = 0;          // key bucket: its first fingerprint in its part's list
  uint64_t hashed : 44 = 0;      // bytes in crc (ComputeStatus refuses files of 2^44 bytes)
  uint64_t count : 16 = 0;       // elements (a page header's count is 16 bits)
  uint64_t part : 1 = 0;
  uint64_t read : 1 = 0;  // pass 1 saw it as a leaf
};
static_assert(sizeof(LeafSummary) == 32);

// What status keeps per reachable leaf: its summary, its page id by rank
// and, during pass 1, its rank in file order.
constexpr uint64_t kBytesPerLeaf = sizeof(LeafSummary) + 2 * sizeof(uint32_t);

struct OddLeaf {
  std::string fault;                                        // element bounds or order
  std::vector<std::pair<std::string, std::string>> nested;  // nested bucket elements
};

// Fingerprints in fixed chunks: no doubling (a vector's grown capacity and
// its copy are up to twice the 8 bytes a revision it holds).
class Fingerprints {
 public:
  void push_back(uint64_t v) {
    if (size_ % kChunk == 0) chunks_.emplace_back().reserve(kChunk);
    chunks_.back().push_back(v);
    size_++;
  }
  void resize(uint64_t n) {
    while (size_ < n) push_back(0);
  }
  uint64_t operator[](uint64_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  uint64_t size() const { return size_; }

 private:
  static constexpr uint64_t kChunk = 1 << 16;
  std::vector<std::vector<uint64_t>> chunks_;
  uint64_t size_ = 0;
};

// Order-free sums of one bucket's leaves.
struct LeafTotals {
  uint64_t keys = 0, bytes = 0, leaf_pages = 0, overflow_pages = 0;
  uint64_t tree_bytes = 0, used_bytes = 0;
};

// A page-per-bit set of the pages the trees reach.
class PageSet {
 public:
  explicit PageSet(bolt::Pgid pgid) : pgid_(pgid), words_((pgid + 63) / 64, 0) {}
  // Marks pages id..id+overflow; false when one was already marked.
  bool Mark(bolt::Pgid id, uint64_t overflow) {
    bool twice = false;
    for (bolt::Pgid p = id; p <= id + overflow && p < pgid_; p++) {
      uint64_t& w = words_[p / 64];
      const uint64_t bit = 1ULL << (p % 64);
      twice |= (w & bit) != 0;
      w |= bit;
    }
    return !twice;
  }
  // Adds `other`'s pages; the first page in both, or 0.
  bolt::Pgid Merge(const PageSet& other) {
    bolt::Pgid both = 0;
    for (size_t i = 0; i < words_.size(); i++) {
      const uint64_t common = words_[i] & other.words_[i];
      if (common != 0 && both == 0) both = i * 64 + __builtin_ctzll(common);
      words_[i] |= other.words_[i];
    }
    return both;
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (uint64_t w : words_) n += __builtin_popcountll(w);
    return n;
  }

 private:
  bolt::Pgid pgid_;
  std::vector<uint64_t> words_;
};

// The trees from their branch pages alone, read with pread where they lie
// (a 5 GB snapshot has ~5k branch pages against ~570k leaves): bbolt keeps
// every leaf of a tree at the same depth, so the first page of a level says
// whether the level holds the leaves, and the leaves are checked as such
// when pass 1 reads them.
class Trees {
 public:
  explicit Trees(const bolt::Reader& r) : r_(r), pgid_(r.meta().pgid), reached_(pgid_) {
    reached_.Mark(0, 1);
  }

  // The leaves under `root`, in key order, appended to `leaves`; every
  // branch page entered is marked reached. Faults (bad type, out of bounds,
  // a page referenced twice, a bad branch, depth) go to `faults` as
  // "page N: ..." and the subtree is skipped.
  void Leaves(bolt::Pgid root, std::vector<bolt::Pgid>& leaves, std::vector<std::string>& faults) {
    std::vector<bolt::Pgid> level{root}, next;
    for (int depth = 0;; depth++) {
      std::erase_if(level, [&](bolt::Pgid id) {
        if (id >= 2 && id < pgid_) return false;
        faults.push_back(fmt::format("page {}: out of bounds (high-water mark {})", id, pgid_));
        return true;
      });
      // The level's first page start says what the level holds.
      size_t at = 0;
      uint16_t kind = 0;
      for (; at < level.size() && kind == 0; at++) {
        kind = Kind(level[at]);
        if (kind == 0)
          faults.push_back(
              fmt::format("page {}: invalid type: not a branch or leaf page start", level[at]));
      }
      if (kind == 0) return;
      at--;
      if (kind & bolt::kLeafPage) {
        leaves.insert(leaves.end(), level.begin() + static_cast<ptrdiff_t>(at), level.end());
        return;
      }
      if (depth >= kMaxDepth) {
        faults.push_back(fmt::format("page {}: tree deeper than {} levels", root, kMaxDepth));
        return;
      }
      next.clear();
      for (; at < level.size(); at++) Branch(level[at], next, faults);
      level.swap(next);
    }
  }

  // Marks a page pass 1 found to be a leaf (or a nested bucket's page).
  bool Mark(bolt::Pgid id, uint64_t overflow) { return reached_.Mark(id, overflow); }
  PageSet& reached() { return reached_; }
  uint64_t branch_pages() const { return branches_; }

  // The span of page `id` (a page start), read into `buf`.
  Result<bolt::PageView> Read(bolt::Pgid id, std::string& buf) const {
    const uint64_t ps = r_.page_size();
    buf.resize(ps);  // most pages have no overflow: one read
    CPR_RETURN_IF_ERROR(r_.file().ReadAt(id * ps, buf.data(), ps));
    const uint64_t overflow = LoadLe32(buf.data() + 12);
    if (LoadLe64(buf.data()) != id || id + overflow >= pgid_)
      return MakeError(Code::kCorrupt, fmt::format("{} page {}", r_.name(), id),
                       "not a page start");
    if (overflow > 0) {
      buf.resize((overflow + 1) * ps);
      CPR_RETURN_IF_ERROR(r_.file().ReadAt((id + 1) * ps, buf.data() + ps, overflow * ps));
    }
    return bolt::PageView(Bytes(buf), &r_.name(), id, false);
  }

 private:
  // kBranchPage or kLeafPage when `id` starts such a page, else 0.
  uint16_t Kind(bolt::Pgid id) const {
    char head[bolt::kPageHeaderSize];
    if (!r_.file().ReadAt(id * r_.page_size(), head, sizeof head)) return 0;
    if (LoadLe64(head) != id || id + LoadLe32(head + 12) >= pgid_) return 0;
    const uint16_t flags = LoadLe16(head + 8);
    if (flags & bolt::kBranchPage) return bolt::kBranchPage;
    return flags & bolt::kLeafPage;
  }

  void Branch(bolt::Pgid id, std::vector<bolt::Pgid>& children, std::vector<std::string>& faults) {
    auto page = Read(id, buf_);
    if (!page || !page->is_branch()) {
      faults.push_back(
          fmt::format("page {}: not a branch page, yet beside branch pages in its tree", id));
      return;
    }
    if (!reached_.Mark(id, page->overflow())) {
      faults.push_back(fmt::format("page {}: multiple references", id));
      return;
    }
    branches_++;
    const size_t before = children.size();
    bool bad = !page->CheckElementArray() || page->count() == 0;
    Bytes previous;
    for (size_t e = 0; !bad && e < page->count(); e++) {
      auto el = page->Branch(e);
      // Keys strictly ascending, as bbolt's search over them requires.
      bad = !el || (e > 0 && !(previous < el->key));
      if (bad) break;
      previous = el->key;
      children.push_back(el->child);
    }
    if (bad) {
      children.resize(before);
      faults.push_back(
          fmt::format("page {}: branch elements out of bounds, out of order or empty", id));
    }
  }

  const bolt::Reader& r_;
  bolt::Pgid pgid_;
  PageSet reached_;
  uint64_t branches_ = 0;
  std::string buf_;
};

// A key-bucket record in pass 1's list: its user key's fingerprint
// (std::hash) in the high bits, marks in the low three; 0: not a record.
constexpr uint64_t kTombstoneMark = 1;
constexpr uint64_t kRecordMark = 2;
constexpr uint64_t kAboveCompactionMark = 4;  // revision above the compaction
constexpr uint64_t kFingerprintBits = ~uint64_t{7};

// What pass 1 keeps for HashKvFromLeaves when a document asks for hashKV.
struct HashKvPlan {
  bool wanted = false;
  int64_t compacted = -1;  // the finished compaction; -1: unknown
  // Records at or below the compaction may be skipped: keep what splices
  // them out of a leaf's CRC (LeafPart::states, tail keys).
  bool Splices() const { return wanted && compacted > 0; }
};

// Per part, the exact user keys of the records above the compaction (one
// arena), up to this many bytes counting kTailKeyOverhead per key (its
// TailKey here and its entry in TailKeys); past it HashKvFromLeaves gives up.
constexpr uint64_t kTailKeyBudget = 4ULL << 20;
constexpr uint64_t kTailKeyOverhead = 40;

// Pass 1's work on one part of the file: the reachable leaves in it, in
// file order.
class LeafPart {
 public:
  // `records_kept` counts the records every part keeps, up to `max_records`
  // (what StatusOptions::memory_budget leaves for them).
  LeafPart(uint8_t part, bolt::Pgid pgid, size_t buckets, size_t key_bucket, HashKvPlan plan,
           std::atomic<uint64_t>& records_kept, uint64_t max_records)
      : part_(part),
        reached_(pgid),
        totals_(buckets),
        key_bucket_(key_bucket),
        plan_(plan),
        records_kept_(records_kept),
        max_records_(max_records) {}

  void Add(const bolt::PageView& page, size_t bucket, LeafSummary& s) {
    LeafTotals& t = totals_[bucket];
    OddLeaf odd;
    const bool key_bucket = bucket == key_bucket_;
    s.part = part_;
    s.read = true;
    s.count = page.count();
    if (key_bucket && keeping_ &&
        records_kept_.fetch_add(page.count()) + page.count() > max_records_)
      StopKeeping();
    s.records = static_cast<uint32_t>(records_.size());
    if (!reached_.Mark(page.id(), page.overflow()))
      faults_.push_back(fmt::format("page {}: multiple references", page.id()));
    t.leaf_pages++;
    t.overflow_pages += page.overflow();
    t.tree_bytes += page.bytes().size();
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
        t.keys++;
        t.bytes += e->key.size() + e->value.size();
        if (i + 1 == page.count())
          t.used_bytes +=
              static_cast<uint64_t>(e->value.data() + e->value.size() - page.bytes().data());
        if (i == 0) s.first = KeyPrefix(e->key);
        if (i + 1 == page.count()) s.last = KeyPrefix(e->key);
        if (e->is_bucket()) odd.nested.emplace_back(std::string(e->key), std::string(e->value));
        if (!key_bucket) continue;
        const auto rev = Revision::Parse(e->key);
        AddRecord(*e, rev, s);
        if (i + 1 == page.count() && !rev)
          odd.fault = "key bucket holds a key that is not a revision";
      }
    }
    if (key_bucket && keeping_) {  // one entry per element, read or not
      records_.resize(s.records + uint64_t{s.count});
      if (plan_.Splices()) states_.resize(records_.size());
    }
    if (!odd.fault.empty() || !odd.nested.empty()) odd_[page.id()] = std::move(odd);
  }

  void Fault(std::string what) { faults_.push_back(std::move(what)); }
  const OddLeaf* Odd(bolt::Pgid id) const {
    auto it = odd_.find(id);
    return it == odd_.end() ? nullptr : &it->second;
  }
  const Fingerprints& records() const { return records_; }
  // Per record (when Splices()): the leaf's CRC after it << 32 | the
  // bytes the leaf hashed up to its end.
  const Fingerprints& states() const { return states_; }
  // The user keys above the compaction, in an arena: key i is
  // [tail()[i-1].end, tail()[i].end) of tail_keys().
  struct TailKey {
    uint64_t fingerprint;  // as in records(), marks cleared
    uint64_t end;
  };
  const std::string& tail_keys() const { return tail_keys_; }
  const std::vector<TailKey>& tail() const { return tail_; }
  // False when pass 1 could not keep what HashKvFromLeaves needs.
  bool tail_complete() const { return tail_complete_; }
  // False past the records' budget: records() and states() given up.
  bool keeps_records() const { return keeping_; }
  const std::vector<LeafTotals>& totals() const { return totals_; }
  const std::vector<std::string>& faults() const { return faults_; }
  const PageSet& reached() const { return reached_; }

 private:
  // One key-bucket record: its fingerprint with marks; for hashKV also the
  // leaf's CRC state after it and, above the compaction, its user key.
  void AddRecord(const bolt::LeafElement& e, const std::optional<Revision>& rev,
                 const LeafSummary& s) {
    if (!keeping_) return;
    auto user = rev ? KeyValueUserKey(e.value) : std::nullopt;
    if (!user) {
      records_.push_back(0);
      if (plan_.Splices()) states_.push_back(0);
      return;
    }
    const uint64_t fingerprint = std::hash<std::string_view>{}(*user) & kFingerprintBits;
    const bool above = plan_.compacted >= 0 && rev->main > plan_.compacted;
    records_.push_back(fingerprint | (above ? kAboveCompactionMark : 0) | kRecordMark |
                       (rev->tombstone ? kTombstoneMark : 0));
    if (!plan_.Splices()) return;
    tail_complete_ = tail_complete_ && s.hashed <= UINT32_MAX;
    states_.push_back(uint64_t{s.crc} << 32 | (s.hashed & UINT32_MAX));
    if (!above || !tail_complete_) return;
    tail_complete_ =
        tail_keys_.size() + user->size() + (tail_.size() + 1) * kTailKeyOverhead <= kTailKeyBudget;
    if (!tail_complete_) return;
    tail_keys_.append(*user);
    tail_.push_back({fingerprint, tail_keys_.size()});
  }

  void StopKeeping() {
    keeping_ = false;
    tail_complete_ = false;
    records_ = Fingerprints();
    states_ = Fingerprints();
    std::string().swap(tail_keys_);
    std::vector<TailKey>().swap(tail_);
  }

  uint8_t part_;
  PageSet reached_;
  std::vector<LeafTotals> totals_;
  size_t key_bucket_;
  HashKvPlan plan_;
  std::atomic<uint64_t>& records_kept_;
  uint64_t max_records_;
  bool keeping_ = true;
  Fingerprints records_;
  Fingerprints states_;
  std::string tail_keys_;
  std::vector<TailKey> tail_;
  bool tail_complete_ = true;
  std::map<bolt::Pgid, OddLeaf> odd_;
  std::vector<std::string> faults_;
};

// Page fill: bytes up to the end of a page's last element.
uint64_t UsedBytes(const bolt::PageView& page) {
  const size_t n = page.count();
  if (n == 0) return bolt::kPageHeaderSize;
  auto e = page.Leaf(n - 1);
  return e ? static_cast<uint64_t>(e->value.data() + e->value.size() - page.bytes().data()) : 0;
}

// The first (or last) key of leaf `id`, read again: two leaves whose keys
// share their first 8 bytes are ordered by their keys.
std::string EdgeKey(const Trees& trees, bolt::Pgid id, bool last) {
  std::string buf;
  auto page = trees.Read(id, buf);
  if (!page || page->count() == 0 || !page->CheckElementArray()) return {};
  auto e = page->Leaf(last ? page->count() - 1 : 0);
  return e ? std::string(e->key) : std::string();
}

struct Bucket {
  BucketStats stats;
  bolt::BucketRef ref;
  size_t leaves_begin = 0, leaves_end = 0;  // into the ranks of every bucket's leaves
};

// The key bucket's leaves as pass 1 left them (ranks [begin, end)).
struct KeyLeaves {
  const Trees& trees;
  const std::vector<uint32_t>& leaves;
  const std::vector<LeafSummary>& sums;
  const std::vector<LeafPart>& parts;
  size_t begin = 0, end = 0;
  // Record `i` of the leaf of rank `rank`, as LeafPart::records keeps it.
  uint64_t Record(size_t rank, size_t i) const {
    const LeafSummary& sum = sums[rank];
    return parts[sum.part].records()[sum.records + i];
  }
  // The leaf's CRC and hashed length after record `i` (LeafPart::states);
  // i == -1: before its first.
  std::pair<uint32_t, uint64_t> State(size_t rank, ptrdiff_t i) const {
    if (i < 0) return {0, 0};
    const LeafSummary& sum = sums[rank];
    const uint64_t state = parts[sum.part].states()[sum.records + static_cast<uint64_t>(i)];
    return {static_cast<uint32_t>(state >> 32), state & UINT32_MAX};
  }
};

// The user keys with a record above the compaction, from pass 1: a filter
// by fingerprint, then the keys themselves.
class TailKeys {
 public:
  explicit TailKeys(const std::vector<LeafPart>& parts) {
    for (const LeafPart& part : parts) {
      uint64_t start = 0;
      for (const LeafPart::TailKey& k : part.tail()) {
        keys_.emplace_back(k.fingerprint, Bytes(part.tail_keys()).substr(start, k.end - start));
        start = k.end;
      }
    }
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
    uint64_t bits = 1 << 16;  // ~1.5 % of fingerprints not held pass the filter
    while (bits < keys_.size() * 64) bits *= 2;
    filter_.assign(bits / 64, 0);
    for (const auto& k : keys_) Set(k.first);
  }

  // Whether the key of `record` (LeafPart::records) may be one of them.
  bool MayHold(uint64_t record) const {
    const uint64_t f = record & kFingerprintBits;
    if (!Test(f)) return false;
    auto it = std::lower_bound(keys_.begin(), keys_.end(), std::make_pair(f, Bytes()));
    return it != keys_.end() && it->first == f;
  }
  // Whether `user`, the key of `record`, is one of them.
  bool Holds(uint64_t record, Bytes user) const {
    const uint64_t f = record & kFingerprintBits;
    for (auto it = std::lower_bound(keys_.begin(), keys_.end(), std::make_pair(f, Bytes()));
         it != keys_.end() && it->first == f; ++it)
      if (it->second == user) return true;
    return false;
  }

 private:
  uint64_t Bit(uint64_t f) const { return (f >> 3) & (filter_.size() * 64 - 1); }
  void Set(uint64_t f) { filter_[Bit(f) / 64] |= 1ULL << (Bit(f) % 64); }
  bool Test(uint64_t f) const { return (filter_[Bit(f) / 64] >> (Bit(f) % 64)) & 1; }

  std::vector<std::pair<uint64_t, Bytes>> keys_;  // by fingerprint
  std::vector<uint64_t> filter_;
};

// Joins the CRC of records [a, b) of a leaf into `kv`, spliced out of the
// leaf's chained CRC states: crc(B) = crc(A||B) ^ shift(crc(A), |B|),
// which is Crc32cCombine(crc(A), crc(A||B), |B|). Returns |B|.
uint64_t JoinRecords(const KeyLeaves& in, size_t rank, size_t a, size_t b, Crc32cJoiner& kv) {
  if (a >= b) return 0;
  const auto [crc_a, end_a] = in.State(rank, static_cast<ptrdiff_t>(a) - 1);
  const auto [crc_ab, end_ab] = in.State(rank, static_cast<ptrdiff_t>(b) - 1);
  kv.Append(Crc32cCombine(crc_a, crc_ab, end_ab - end_a), end_ab - end_a);
  return end_ab - end_a;
}

// The CRC of records at or below the compaction that HashKvFromLeaves
// keeps, and those above it, of the key leaves of ranks [from, to), with
// their length; nullopt when a leaf read again disagrees with pass 1.
struct Joined {
  uint32_t crc = 0;
  uint64_t length = 0;
};
std::optional<Joined> JoinKeyLeaves(const KeyLeaves& in, const TailKeys& tail, size_t from,
                                    size_t to) {
  Crc32cJoiner kv;
  uint64_t length = 0;
  std::string buf;
  for (size_t rank = from; rank < to; rank++) {
    const LeafSummary& sum = in.sums[rank];
    auto maybe_skipped = [&](size_t i) {
      const uint64_t record = in.Record(rank, i);
      return !(record & kAboveCompactionMark) && tail.MayHold(record);
    };
    size_t i = 0;
    while (i < sum.count && !maybe_skipped(i)) i++;
    if (i == sum.count) {
      kv.Append(sum.crc, sum.hashed);
      length += sum.hashed;
      continue;
    }
    auto page = in.trees.Read(in.leaves[rank], buf);
    if (!page || !page->CheckElementArray() || page->count() != sum.count) return std::nullopt;
    size_t kept_from = 0;
    for (; i < sum.count; i++) {
      if (!maybe_skipped(i)) continue;
      auto e = page->Leaf(i);
      auto user = e ? KeyValueUserKey(e->value) : std::nullopt;
      if (!user) return std::nullopt;
      if (!tail.Holds(in.Record(rank, i), *user)) continue;
      length += JoinRecords(in, rank, kept_from, i, kv);
      kept_from = i + 1;
    }
    length += JoinRecords(in, rank, kept_from, sum.count, kv);
  }
  return Joined{kv.crc(), length};
}

// etcd's HashKV at the store's current revision (hashkv.h), told from pass
// 1's leaf CRCs without a second pass when the file allows; nullopt sends
// the caller to ComputeHashKv. Keep(R) at the current R keeps, of the
// records at or below the compacted revision C, each key's newest record
// when it is a put (key_index.go keep). A finished compaction left those
// records one put per key (the rest were deleted), so one of them is skipped
// exactly when its key also has a record above C. Any other shape (a
// tombstone or a second record of a key at or below C, `low_conflict`; no
// live key) is left to ComputeHashKv, as is a compaction scheduled but not
// finished (HashKvPlan::wanted, checked by the caller). Skipped records are told by fingerprint and
// confirmed by their keys, read again from their leaves; no leaf is hashed again. The leaves go in
// slices to two threads (the reads are most of the time), the slices' CRCs joined in order.
// REQUIRES: `compacted` >= 0 is the finished compaction, none scheduled past it.
std::optional<uint32_t> HashKvFromLeaves(const KeyLeaves& in, int64_t compacted,
                                         std::optional<uint64_t> live, bool low_conflict) {
  if (!live || *live == 0 || low_conflict) return std::nullopt;
  for (size_t rank = in.begin; rank < in.end; rank++)
    if (!in.sums[rank].read) return std::nullopt;
  Crc32cJoiner kv;
  kv.AppendBytes(kKeyBucket);
  if (compacted == 0) {  // never compacted: every record counts
    for (size_t rank = in.begin; rank < in.end; rank++)
      kv.Append(in.sums[rank].crc, in.sums[rank].hashed);
    return kv.crc();
  }
  for (const LeafPart& part : in.parts)
    if (!part.tail_complete()) return std::nullopt;
  const TailKeys tail(in.parts);
  constexpr size_t kSlices = 32;
  const size_t leaves = in.end - in.begin;
  std::vector<std::optional<Joined>> slices(kSlices);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k; (k = next.fetch_add(1)) < kSlices;)
      slices[k] = JoinKeyLeaves(in, tail, in.begin + leaves * k / kSlices,
                                in.begin + leaves * (k + 1) / kSlices);
  };
  std::thread other(work);
  work();
  other.join();
  for (const auto& slice : slices) {
    if (!slice) return std::nullopt;
    kv.Append(slice->crc, slice->length);
  }
  return kv.crc();
}

}  // namespace

Result<Status> ComputeStatus(const Backend& backend, const StatusOptions& options) {
  const bolt::Reader& r = backend.reader();
  const bolt::Pgid pgid = r.meta().pgid;
  Status s;
  s.page_size = r.page_size();
  s.txid = r.meta().txid;
  s.total_size = pgid * r.page_size();
  s.has_trailer = HasHashTrailer(r.file().size());
  // What a leaf keeps (LeafSummary, ranks of 4 bytes) holds for any file
  // below 16 TiB; etcd's backend is at most 8 GiB (its quota's maximum).
  if (pgid >= (uint64_t{1} << 32) || s.total_size >= (uint64_t{1} << 44))
    return MakeError(
        Code::kInvalidArgument, backend.name(),
        fmt::format("{} pages of {} bytes: larger than any etcd backend", pgid, s.page_size),
        "check that the file is an etcd snapshot or member db");

  // The root bucket, then every bucket's tree from its branch pages: the
  // leaves of all of them in key order, bucket after bucket (§4.1 step 5).
  std::vector<std::string> faults;
  Trees trees(r);
  std::vector<bolt::Pgid> root_leaves;
  trees.Leaves(r.meta().root, root_leaves, faults);
  Crc32cJoiner hash;
  LiveKeyCounter live;
  const std::string& file = r.name();
  std::vector<Bucket> buckets;
  // By rank, 4 bytes each (ComputeStatus refuses files of 2^32 pages).
  std::vector<uint32_t> leaves;
  std::vector<bolt::Pgid> bucket_leaves;
  size_t key_bucket = ~size_t{0};
  for (bolt::Pgid root_leaf : root_leaves) {
    auto page = r.Page(root_leaf);
    if (!page) return page.error();
    if (!page->is_leaf()) {
      faults.push_back(fmt::format("page {}: not a leaf page", root_leaf));
      continue;
    }
    if (!trees.Mark(root_leaf, page->overflow()))
      faults.push_back(fmt::format("page {}: multiple references", root_leaf));
    CPR_RETURN_IF_ERROR(page->CheckElementArray());
    s.leaf_pages++;
    s.tree_bytes += page->bytes().size();
    s.used_bytes += UsedBytes(*page);
    for (size_t i = 0; i < page->count(); i++) {
      bolt::LeafElement b = CPR_TRY(page->Leaf(i));
      if (!b.is_bucket())
        return MakeError(Code::kCorrupt, file,
                         fmt::format("cannot get hash of bucket {}", Printable(b.key)));
      Bucket bucket;
      bucket.ref = CPR_TRY(bolt::ParseBucketValue(b.value, file + " bucket " + Printable(b.key)));
      bucket.stats = BucketStats{std::string(b.key), 0, 0, bucket.ref.is_inline(), 0, 0, 0};
      bucket.leaves_begin = leaves.size();
      if (!bucket.ref.is_inline()) {
        const uint64_t branches_before = trees.branch_pages();
        bucket_leaves.clear();
        trees.Leaves(bucket.ref.root, bucket_leaves, faults);
        leaves.insert(leaves.end(), bucket_leaves.begin(), bucket_leaves.end());  // < 2^32
        bucket.stats.branch_pages = trees.branch_pages() - branches_before;
      }
      bucket.leaves_end = leaves.size();
      if (b.key == kKeyBucket) key_bucket = buckets.size();
      buckets.push_back(std::move(bucket));
    }
  }

  std::vector<bolt::Pgid>().swap(bucket_leaves);
  leaves.shrink_to_fit();

  // Pass 1: the reachable leaves in file order with large reads
  // (bolt/page_index.h ReadPages), the file's two halves on two threads
  // (the per-leaf CRCs and fingerprints are most of the work). File order:
  // the ranks sorted by page id; a page reached twice is read for its
  // first rank only.
  std::vector<uint32_t> by_id(leaves.size());
  for (uint32_t rank = 0; rank < by_id.size(); rank++) by_id[rank] = rank;
  std::sort(by_id.begin(), by_id.end(), [&](uint32_t a, uint32_t b) {
    return leaves[a] != leaves[b] ? leaves[a] < leaves[b] : a < b;
  });
  size_t distinct = 0;
  for (uint32_t rank : by_id) {
    if (distinct > 0 && leaves[by_id[distinct - 1]] == leaves[rank]) {
      faults.push_back(fmt::format("page {}: multiple references", leaves[rank]));
      continue;
    }
    by_id[distinct++] = rank;
  }
  by_id.resize(distinct);
  // The bucket of the leaf of rank `rank` (a few buckets: a short search).
  auto bucket_of = [&](uint32_t rank) {
    auto it = std::upper_bound(buckets.begin(), buckets.end(), rank,
                               [](uint32_t x, const Bucket& b) { return x < b.leaves_end; });
    return static_cast<size_t>(it - buckets.begin());
  };
  std::vector<LeafSummary> sums(leaves.size());
  // hashKV from this pass needs the compaction first (HashKvFromLeaves);
  // a meta bucket that cannot be read is reported after the structure
  // check, as before.
  Result<MetaInfo> meta = backend.Meta();
  HashKvPlan plan;
  if (options.with_hash_kv && meta && meta->scheduled_compact <= meta->finished_compact) {
    plan.wanted = true;
    plan.compacted = meta->finished_compact;
  }
  // The memory budget less what the leaves keep, for the revisions'
  // fingerprints (8 B, 16 with hashKV's states) and the live key counter's
  // table (at most 24 B a revision: 8 B slots, a power of two, <= 70 % full).
  const uint64_t leaf_bytes = leaves.size() * kBytesPerLeaf;
  const uint64_t max_records =
      leaf_bytes >= options.memory_budget
          ? 0
          : (options.memory_budget - leaf_bytes) / (8 + (plan.Splices() ? 8 : 0) + 24);
  std::atomic<uint64_t> records_kept{0};
  std::vector<LeafPart> parts;
  parts.reserve(2);
  for (uint8_t k = 0; k < 2; k++)
    parts.emplace_back(k, pgid, buckets.size(), key_bucket, plan, records_kept, max_records);
  // by_id[begin, end) in chunks: the page ids of one chunk at a time.
  auto read = [&](uint8_t part, size_t begin, size_t end) -> Result<void> {
    constexpr size_t kChunk = 1 << 14;
    std::vector<bolt::Pgid> ids;
    for (size_t from = begin; from < end; from += kChunk) {
      const size_t to = std::min(end, from + kChunk);
      ids.clear();
      for (size_t k = from; k < to; k++) ids.push_back(leaves[by_id[k]]);
      size_t next = from;
      CPR_RETURN_IF_ERROR(
          bolt::PageIndex::ReadPages(r, ids, [&](const bolt::PageView& page) -> Result<void> {
            const uint32_t rank = by_id[next++];
            const bolt::Pgid id = leaves[rank];
            if (page.id() != id)
              parts[part].Fault(
                  fmt::format("page {}: invalid type: not a branch or leaf page start", id));
            else if (!page.is_leaf())
              parts[part].Fault(fmt::format("page {}: not a leaf page", id));
            else
              parts[part].Add(page, bucket_of(rank), sums[rank]);
            return {};
          }));
    }
    return {};
  };
  const size_t half = by_id.size() / 2;
  Result<void> second;
  std::thread other([&] { second = read(1, half, by_id.size()); });
  Result<void> first = read(0, 0, half);
  other.join();
  CPR_RETURN_IF_ERROR(first);
  CPR_RETURN_IF_ERROR(second);
  std::vector<uint32_t>().swap(by_id);
  for (const LeafPart& part : parts) {
    faults.insert(faults.end(), part.faults().begin(), part.faults().end());
    if (bolt::Pgid both = trees.reached().Merge(part.reached()))
      faults.push_back(fmt::format("page {}: multiple references", both));
  }
  // Fingerprints of every record, or (past the budget) none.
  const bool fingerprints =
      std::all_of(parts.begin(), parts.end(), [](const LeafPart& p) { return p.keeps_records(); });
  if (key_bucket < buckets.size() && fingerprints) {
    uint64_t records = 0;
    for (const LeafPart& part : parts) records += part.records().size();
    live.Reserve(records);
  }

  // Pass 2: the leaves in key order, from their summaries.
  bool low_conflict = !fingerprints;  // HashKvFromLeaves cannot tell hashKV
  for (size_t b = 0; b < buckets.size(); b++) {
    Bucket& bucket = buckets[b];
    BucketStats& stats = bucket.stats;
    hash.AppendBytes(stats.name);
    const bool is_key_bucket = b == key_bucket;
    if (bucket.ref.is_inline()) {
      bolt::PageView inl(bucket.ref.inline_page, &file, 0, true);
      if (!inl.is_leaf())
        return inl.Corrupt(fmt::format("bucket {}: inline page is a {} page, not a leaf",
                                       Printable(stats.name), bolt::PageTypeName(inl.flags())));
      CPR_RETURN_IF_ERROR(inl.CheckElementArray());
      for (size_t k = 0; k < inl.count(); k++) {
        bolt::LeafElement e = CPR_TRY(inl.Leaf(k));
        hash.AppendBytes(e.key);
        if (!e.is_bucket()) hash.AppendBytes(e.value);
        stats.keys++;
        stats.bytes += e.key.size() + e.value.size();
        if (is_key_bucket) {
          auto rev = Revision::Parse(e.key);
          if (!rev)
            return MakeError(Code::kCorrupt, file, "key bucket holds a key that is not a revision");
          s.revision = rev->main;
          auto user = KeyValueUserKey(e.value);
          if (user) live.Add(*user, rev->tombstone);
        }
      }
    } else {
      for (const LeafPart& part : parts) {
        const LeafTotals& t = part.totals()[b];
        stats.keys += t.keys;
        stats.bytes += t.bytes;
        stats.leaf_pages += t.leaf_pages;
        stats.overflow_pages += t.overflow_pages;
        s.tree_bytes += t.tree_bytes;
        s.used_bytes += t.used_bytes;
      }
      size_t previous = ~size_t{0};  // the last non-empty leaf before
      for (size_t rank = bucket.leaves_begin; rank < bucket.leaves_end; rank++) {
        const LeafSummary& sum = sums[rank];
        if (!sum.read) continue;  // a fault already
        const bolt::Pgid id = leaves[rank];
        const LeafPart& part = parts[sum.part];
        const OddLeaf* odd = part.Odd(id);
        if (odd && !odd->fault.empty())
          faults.push_back(fmt::format("page {}: {}", id, odd->fault));
        if (sum.count > 0) {
          if (previous != ~size_t{0} &&
              (sums[previous].last > sum.first ||
               (sums[previous].last == sum.first &&
                !(EdgeKey(trees, leaves[previous], true) < EdgeKey(trees, id, false)))))
            faults.push_back(
                fmt::format("page {}: first key is not after the previous page's last key", id));
          previous = rank;
        }
        hash.Append(sum.crc, sum.hashed);
        for (const auto& [name, value] :
             odd ? odd->nested : std::vector<std::pair<std::string, std::string>>{}) {
          auto nested = bolt::ParseBucketValue(value, "nested bucket");
          if (!nested || nested->is_inline()) continue;
          std::vector<bolt::Pgid> nested_leaves;
          trees.Leaves(nested->root, nested_leaves, faults);
          std::string buf;
          for (bolt::Pgid leaf : nested_leaves) {
            auto page = trees.Read(leaf, buf);
            if (page && !trees.Mark(leaf, page->overflow()))
              faults.push_back(fmt::format("page {}: multiple references", leaf));
          }
        }
        if (is_key_bucket && fingerprints) {
          const Fingerprints& records = part.records();
          for (uint64_t k = sum.records; k < sum.records + uint64_t{sum.count}; k++) {
            const uint64_t r = records[k];
            if (r == 0) {
              low_conflict = true;
              continue;
            }
            // In revision order: the records at or below the compaction
            // come first, so "seen" here is a second record of a key there.
            const bool tombstone = r & kTombstoneMark;
            const bool seen = live.AddFingerprint(r & kFingerprintBits, tombstone);
            if (!(r & kAboveCompactionMark) && (seen || tombstone)) low_conflict = true;
          }
        }
      }
      // The newest revision: the last key of the bucket's last leaf.
      if (is_key_bucket && previous != ~size_t{0}) {
        auto rev = Revision::Parse(EdgeKey(trees, leaves[previous], true));
        if (rev) s.revision = rev->main;
      }
      s.branch_pages += stats.branch_pages;
      s.leaf_pages += stats.leaf_pages;
      s.overflow_pages += stats.overflow_pages;
    }
    s.total_key += stats.keys;
    s.buckets.push_back(std::move(stats));
  }
  if (!faults.empty()) {
    std::string list;
    for (size_t i = 0; i < faults.size() && i < 5; i++) list += "\n  " + faults[i];
    return MakeError(Code::kCorrupt, backend.name(),
                     fmt::format("structure check failed ({} faults):{}", faults.size(), list),
                     "run `cpr snapshot verify` for every fault");
  }
  s.hash = hash.crc();
  if (fingerprints) s.live_keys = live.count();
  s.free_pages = pgid - trees.reached().count();

  if (!meta) return meta.error();
  s.consistent_index = meta->consistent_index;
  s.compact_revision = meta->finished_compact;
  s.scheduled_compact_revision = meta->scheduled_compact;
  if (plan.wanted && key_bucket < buckets.size() && !buckets[key_bucket].ref.is_inline()) {
    const KeyLeaves key_leaves{trees,
                               leaves,
                               sums,
                               parts,
                               buckets[key_bucket].leaves_begin,
                               buckets[key_bucket].leaves_end};
    auto crc = HashKvFromLeaves(key_leaves, plan.compacted, s.live_keys, low_conflict);
    const int64_t at = StoreRevision(s.revision, s.compact_revision);
    if (crc) s.hash_kv = HashKv{*crc, at, s.compact_revision, at, *s.live_keys};
  }
  s.cluster_version = CPR_TRY(backend.ClusterVersion());
  s.members = CPR_TRY(backend.Members());
  s.alarms = CPR_TRY(backend.Alarms());
  s.auth = CPR_TRY(backend.Auth());
  s.leases = CPR_TRY(backend.Leases()).size();
  return s;
}

}  // namespace cpr::etcd
