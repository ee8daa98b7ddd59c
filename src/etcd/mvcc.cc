#include "etcd/mvcc.h"

#include <fmt/format.h>

#include <algorithm>

#include "bolt/page_index.h"
#include "util/text.h"

namespace cpr::etcd {
namespace {

Result<Record> DecodeRecord(const Backend& b, const Revision& rev, Bytes value) {
  auto kv = DecodeKeyValue(value);
  if (!kv)
    return MakeError(Code::kCorrupt, fmt::format("{} revision {}", b.name(), rev.ToString()),
                     kv.error().what);
  return Record{rev, *kv};
}

Result<Bytes> UserKey(const Backend& b, const Revision& rev, Bytes value) {
  auto key = KeyValueUserKey(value);
  if (!key)
    return MakeError(Code::kCorrupt, fmt::format("{} revision {}", b.name(), rev.ToString()),
                     "value is not a KeyValue record");
  return *key;
}

bool StartsWith(Bytes s, Bytes prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

Result<int64_t> ResolveRevision(const Backend& backend, int64_t requested) {
  const int64_t latest = CPR_TRY(backend.LatestRevision()).main;
  const int64_t compacted = CPR_TRY(backend.Meta()).finished_compact;
  const int64_t current = std::max(latest, compacted);  // §2.2: store revision at boot
  if (requested <= 0) return current;
  if (requested > current)
    return MakeError(Code::kFailedPrecondition, "--rev",
                     fmt::format("required revision {} is a future revision (the file ends at {})",
                                 requested, current));
  if (requested < compacted)
    return MakeError(Code::kFailedPrecondition, "--rev",
                     fmt::format("required revision {} has been compacted (compacted at {})",
                                 requested, compacted),
                     "choose a revision at or above the compaction, or an older backup");
  return requested;
}

Bytes KeySet::key(size_t i) const {
  const Entry& e = entries_[order_[i]];
  return Bytes(arena_).substr(e.key_offset, e.key_size);
}

Revision KeySet::revision(size_t i) const {
  const Entry& e = entries_[order_[i]];
  return Revision{e.main, e.sub, false};
}

Result<Record> KeySet::record(size_t i) const {
  const Entry& e = entries_[order_[i]];
  backend_->reader().file().Touch(e.record_size);
  return DecodeRecord(*backend_, Revision{e.main, e.sub, e.tombstone},
                      Bytes(e.record, e.record_size));
}

Result<KeySet> LiveKeys(const Backend& backend, int64_t revision, Bytes prefix) {
  KeySet set;
  set.backend_ = &backend;
  set.revision_ = revision;
  // Open addressing over entries_: slot = entry index + 1, 0 = empty.
  std::vector<uint32_t> slots(1 << 12, 0);
  auto slot_of = [&](Bytes key) -> uint32_t& {
    const size_t mask = slots.size() - 1;
    for (size_t i = std::hash<std::string_view>{}(key)&mask;; i = (i + 1) & mask) {
      uint32_t& s = slots[i];
      if (s == 0) return s;
      const auto& e = set.entries_[s - 1];
      if (Bytes(set.arena_).substr(e.key_offset, e.key_size) == key) return s;
    }
  };
  auto grow = [&] {
    std::vector<uint32_t> old = std::move(slots);
    slots.assign(old.size() * 2, 0);
    const size_t mask = slots.size() - 1;
    for (uint32_t s : old) {
      if (s == 0) continue;
      const auto& e = set.entries_[s - 1];
      size_t i =
          std::hash<std::string_view>{}(Bytes(set.arena_).substr(e.key_offset, e.key_size)) & mask;
      while (slots[i] != 0) i = (i + 1) & mask;
      slots[i] = s;
    }
  };
  // A record makes its key's entry if it is the newest seen so far, so the
  // records may come in any order (§2.2: revision order = byte order).
  // `value` is read; `stored` (the same bytes in the mapping) is kept.
  auto consider = [&](const Revision& rev, Bytes value, Bytes stored) -> Result<void> {
    if (rev.main > revision) return {};
    Bytes key = CPR_TRY(UserKey(backend, rev, value));
    if (!StartsWith(key, prefix)) return {};
    uint32_t& slot = slot_of(key);
    if (slot == 0) {
      set.entries_.push_back(KeySet::Entry{set.arena_.size(), static_cast<uint32_t>(key.size()), 0,
                                           nullptr, -1, 0, false});
      set.arena_.append(key);
      slot = static_cast<uint32_t>(set.entries_.size());
    }
    KeySet::Entry& e = set.entries_[slot - 1];
    if (Earlier(Revision{e.main, e.sub, false}, rev)) {
      e.record = stored.data();
      e.record_size = static_cast<uint32_t>(stored.size());
      e.main = rev.main;
      e.sub = rev.sub;
      e.tombstone = rev.tombstone;
    }
    if (set.entries_.size() * 10 > slots.size() * 7) grow();
    return {};
  };
  const bolt::Reader& r = backend.reader();
  auto ref = CPR_TRY(r.Bucket(kKeyBucket));
  if (ref && !ref->is_inline()) {
    // In key order the bucket's leaves lie at random places in the file:
    // learn the tree in one sequential pass, then read its leaves in file
    // order (bolt/page_index.h).
    bolt::PageIndex index = CPR_TRY(bolt::PageIndex::Build(r, [](const bolt::PageView&) {}));
    std::vector<bolt::Pgid> leaves;
    std::vector<std::string> faults;
    index.Leaves(ref->root, leaves, faults);
    if (!faults.empty())
      return MakeError(Code::kCorrupt, backend.name() + " key bucket", faults.front(),
                       "run `cpr snapshot verify` for every fault");
    std::sort(leaves.begin(), leaves.end());
    const char* base = r.file().data().data();
    const uint64_t ps = r.page_size();
    CPR_RETURN_IF_ERROR(
        bolt::PageIndex::ReadPages(r, leaves, [&](const bolt::PageView& page) -> Result<void> {
          CPR_RETURN_IF_ERROR(page.CheckElementArray());
          // Keep pointers into the mapping (the page may sit in a read buffer).
          const char* in_file = base + page.id() * ps;
          for (size_t i = 0; i < page.count(); i++) {
            bolt::LeafElement e = CPR_TRY(page.Leaf(i));
            auto rev = Revision::Parse(e.key);
            if (!rev)
              return page.Corrupt(
                  fmt::format("element {}: {}-byte key is not a revision", i, e.key.size()));
            const Bytes value(in_file + (e.value.data() - page.bytes().data()), e.value.size());
            CPR_RETURN_IF_ERROR(consider(*rev, e.value, value));
          }
          return {};
        }));
  } else {
    CPR_RETURN_IF_ERROR(
        backend.ScanRevisions(0, [&](const Revision& rev, Bytes value) -> Result<bool> {
          if (rev.main > revision) return false;
          CPR_RETURN_IF_ERROR(consider(rev, value, value));
          return true;
        }));
  }
  for (uint32_t i = 0; i < set.entries_.size(); i++)
    if (!set.entries_[i].tombstone) set.order_.push_back(i);
  Bytes arena(set.arena_);
  std::sort(set.order_.begin(), set.order_.end(), [&](uint32_t a, uint32_t b) {
    const auto& ea = set.entries_[a];
    const auto& eb = set.entries_[b];
    return arena.substr(ea.key_offset, ea.key_size) < arena.substr(eb.key_offset, eb.key_size);
  });
  return set;
}

namespace {

// The newest record of `key` with main revision in [from, to) (to = 0: no end).
Result<std::optional<std::pair<Revision, Bytes>>> NewestOf(const Backend& backend, Bytes key,
                                                           int64_t from, int64_t to) {
  std::optional<std::pair<Revision, Bytes>> found;
  CPR_RETURN_IF_ERROR(
      backend.ScanRevisions(from, [&](const Revision& rev, Bytes value) -> Result<bool> {
        if (to > 0 && rev.main >= to) return false;
        if (CPR_TRY(UserKey(backend, rev, value)) == key) found.emplace(rev, value);
        return true;
      }));
  return found;
}

}  // namespace

Result<std::optional<Record>> GetKey(const Backend& backend, Bytes key, int64_t revision) {
  // The bucket is ordered by revision, not key: every record must be seen.
  // Read the file front to back (bolt/page_index.h) noting each record of
  // `key` at or below `revision`, then keep only those on pages the `key`
  // bucket's tree reaches (free pages hold stale records), newest first.
  const bolt::Reader& r = backend.reader();
  auto ref = CPR_TRY(r.Bucket(kKeyBucket));
  if (!ref) return std::optional<Record>();
  if (ref->is_inline()) {
    auto found = CPR_TRY(NewestOf(backend, key, 0, revision + 1));
    if (!found || found->first.tombstone) return std::optional<Record>();
    return std::optional<Record>(CPR_TRY(DecodeRecord(backend, found->first, found->second)));
  }
  struct Candidate {
    bolt::Pgid page;
    uint32_t element;
    Revision rev;
  };
  std::vector<Candidate> candidates;
  std::vector<std::pair<bolt::Pgid, std::string>> bad_pages;  // a fault only if in the tree
  bolt::PageIndex index = CPR_TRY(bolt::PageIndex::Build(r, [&](const bolt::PageView& page) {
    if (auto ok = page.CheckElementArray(); !ok) {
      bad_pages.emplace_back(page.id(), ok.error().what);
      return;
    }
    Bytes previous;
    for (uint32_t i = 0; i < page.count(); i++) {
      auto e = page.Leaf(i);
      if (!e) {
        bad_pages.emplace_back(page.id(), e.error().what);
        return;
      }
      if (i > 0 && !(previous < e->key))
        bad_pages.emplace_back(page.id(),
                               fmt::format("element {}: key is not after the previous key", i));
      previous = e->key;
      auto rev = Revision::Parse(e->key);
      if (!rev || rev->main > revision) continue;
      if (KeyValueUserKey(e->value) == key) candidates.push_back({page.id(), i, *rev});
    }
  }));
  std::vector<bolt::Pgid> leaves;
  std::vector<std::string> faults;
  index.Leaves(ref->root, leaves, faults);
  if (!faults.empty())
    return MakeError(Code::kCorrupt, backend.name() + " key bucket", faults.front(),
                     "run `cpr snapshot verify` for every fault");
  std::vector<bool> in_tree(r.meta().pgid, false);
  for (bolt::Pgid id : leaves) in_tree[id] = true;
  for (const auto& [id, what] : bad_pages)
    if (in_tree[id])
      return MakeError(Code::kCorrupt, fmt::format("{} page {} (leaf)", backend.name(), id), what,
                       "run `cpr snapshot verify` for every fault");
  const Candidate* best = nullptr;
  if (candidates.empty()) return std::optional<Record>();
  for (const auto& c : candidates)
    if (in_tree[c.page] && (best == nullptr || best->rev.main < c.rev.main ||
                            (best->rev.main == c.rev.main && best->rev.sub < c.rev.sub)))
      best = &c;
  if (best == nullptr || best->rev.tombstone) return std::optional<Record>();
  bolt::PageView page = CPR_TRY(r.Page(best->page));
  bolt::LeafElement e = CPR_TRY(page.Leaf(best->element));
  return std::optional<Record>(CPR_TRY(DecodeRecord(backend, best->rev, e.value)));
}

Result<std::vector<Record>> History(const Backend& backend, Bytes key) {
  std::vector<Record> out;
  CPR_RETURN_IF_ERROR(
      backend.ScanRevisions(0, [&](const Revision& rev, Bytes value) -> Result<bool> {
        if (CPR_TRY(UserKey(backend, rev, value)) == key)
          out.push_back(CPR_TRY(DecodeRecord(backend, rev, value)));
        return true;
      }));
  return out;
}

}  // namespace cpr::etcd
