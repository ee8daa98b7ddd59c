#include "etcd/live_scan.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <span>
#include <thread>

#include "bolt/page_index.h"
#include "util/hash.h"
#include "util/spool.h"

namespace cpr::etcd {
namespace {

// The fixed part of an entry; the user key and the note follow it.
struct Packed {
  int64_t main = 0, sub = 0, create_revision = 0, mod_revision = 0, version = 0, lease = 0;
  uint64_t value_size = 0, record_offset = 0, record_size = 0;
  uint32_t value_crc = 0, key_size = 0, note_size = 0;
  uint8_t tombstone = 0;
};

Packed LoadPacked(const char* p) {
  Packed h;
  std::memcpy(&h, p, sizeof h);
  return h;
}

// Key order, then revision order: a key's newest record comes last.
struct Order {
  Bytes key;
  int64_t main, sub;
  bool operator<(const Order& o) const {
    if (int c = key.compare(o.key); c != 0) return c < 0;
    return main != o.main ? main < o.main : sub < o.sub;
  }
};

}  // namespace

// A sorted run: a Spool of entries, read back one at a time into head.
struct LiveScan::Run {
  explicit Run(size_t memory_limit) : spool(memory_limit) {}
  Spool spool;
  Packed head;
  std::string head_bytes;  // key, then note
  Bytes key() const { return Bytes(head_bytes).substr(0, head.key_size); }

  Result<bool> Next() {
    const size_t got = CPR_TRY(spool.Read(reinterpret_cast<char*>(&head), sizeof head));
    if (got == 0) return false;
    head_bytes.resize(uint64_t{head.key_size} + head.note_size);
    if (got < sizeof head ||
        CPR_TRY(spool.Read(head_bytes.data(), head_bytes.size())) < head_bytes.size())
      return MakeError(Code::kInternal, "live key run", "an entry is cut short");
    return true;
  }
};

namespace {

// Collects one pass part's entries, sorted into runs; past its budget a run
// goes to a temporary file.
class RunBuilder {
 public:
  RunBuilder(const Backend& backend, const LiveScanOptions& options, uint64_t budget)
      : backend_(backend), options_(options), budget_(budget) {}

  // A leaf of the bucket's tree (its view lives during the call).
  Result<void> AddPage(const bolt::PageView& page) {
    CPR_RETURN_IF_ERROR(page.CheckElementArray());
    const uint64_t base = page.id() * backend_.reader().page_size();
    for (size_t i = 0; i < page.count(); i++) {
      const bolt::LeafElement e = CPR_TRY(page.Leaf(i));
      auto rev = Revision::Parse(e.key);
      if (!rev)
        return page.Corrupt(
            fmt::format("element {}: {}-byte key is not a revision", i, e.key.size()));
      const uint64_t offset = base + static_cast<uint64_t>(e.value.data() - page.bytes().data());
      CPR_RETURN_IF_ERROR(Add(*rev, e.value, offset));
    }
    return {};
  }

  // One record; `offset`: where `value` lies in the file.
  Result<void> Add(const Revision& rev, Bytes value, uint64_t offset) {
    if (rev.main > options_.revision) return {};
    auto kv = DecodeKeyValue(value);
    if (!kv)
      return MakeError(Code::kCorrupt,
                       fmt::format("{} revision {}", backend_.name(), rev.ToString()),
                       kv.error().what);
    if (kv->key.substr(0, options_.prefix.size()) != options_.prefix) return {};
    note_.clear();
    if (options_.annotate && !rev.tombstone) options_.annotate(Record{rev, *kv}, note_);
    Packed h;
    h.main = rev.main;
    h.sub = rev.sub;
    h.create_revision = kv->create_revision;
    h.mod_revision = kv->mod_revision;
    h.version = kv->version;
    h.lease = kv->lease;
    h.value_size = kv->value.size();
    h.record_offset = offset;
    h.record_size = value.size();
    h.key_size = static_cast<uint32_t>(kv->key.size());
    h.note_size = static_cast<uint32_t>(note_.size());
    h.tombstone = rev.tombstone;
    if (options_.crc_values) h.value_crc = Crc32c(0, kv->value);
    offsets_.push_back(buf_.size());
    buf_.append(reinterpret_cast<const char*>(&h), sizeof h);
    buf_.append(kv->key);
    buf_.append(note_);
    if (buf_.size() >= budget_) return Seal(0);
    return {};
  }

  // The runs, the last one kept in memory if none had to spill.
  Result<std::vector<std::unique_ptr<LiveScan::Run>>> Finish() {
    if (!offsets_.empty()) CPR_RETURN_IF_ERROR(Seal(runs_.empty() ? SIZE_MAX : 0));
    return std::move(runs_);
  }

 private:
  // Sorts what is held into a run of its own.
  Result<void> Seal(size_t memory_limit) {
    std::vector<std::pair<Order, uint64_t>> order;  // sorted by key order, with the offset
    order.reserve(offsets_.size());
    for (uint64_t o : offsets_) {
      const Packed h = LoadPacked(buf_.data() + o);
      order.push_back({Order{Bytes(buf_.data() + o + sizeof h, h.key_size), h.main, h.sub}, o});
    }
    std::sort(order.begin(), order.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    auto run = std::make_unique<LiveScan::Run>(memory_limit);
    for (size_t i = 0; i < order.size(); i++) {
      // Of a key's records in this run only the newest (the last) can be
      // the newest of all runs: the older ones need not be kept.
      if (i + 1 < order.size() && order[i + 1].first.key == order[i].first.key) continue;
      const uint64_t o = order[i].second;
      const Packed h = LoadPacked(buf_.data() + o);
      CPR_RETURN_IF_ERROR(
          run->spool.Append(Bytes(buf_.data() + o, sizeof h + uint64_t{h.key_size} + h.note_size)));
    }
    CPR_RETURN_IF_ERROR(run->spool.Rewind());
    runs_.push_back(std::move(run));
    buf_.clear();
    offsets_.clear();
    return {};
  }

  const Backend& backend_;
  const LiveScanOptions& options_;
  uint64_t budget_;
  std::string buf_, note_;
  std::vector<uint64_t> offsets_;
  std::vector<std::unique_ptr<LiveScan::Run>> runs_;
};

}  // namespace

LiveScan::LiveScan(const Backend& backend) : backend_(backend) {}
LiveScan::~LiveScan() = default;

Result<std::unique_ptr<LiveScan>> LiveScan::Start(const Backend& backend,
                                                  const LiveScanOptions& options) {
  std::unique_ptr<LiveScan> scan(new LiveScan(backend));
  CPR_RETURN_IF_ERROR(scan->Pass(options));
  return scan;
}

Result<void> LiveScan::Pass(const LiveScanOptions& options) {
  read_budget_ = options.memory_budget / 4;
  const bolt::Reader& r = backend_.reader();
  auto ref = CPR_TRY(r.Bucket(kKeyBucket));
  if (!ref) return {};
  if (ref->is_inline()) {
    RunBuilder builder(backend_, options, options.memory_budget);
    const char* file = r.file().data().data();
    CPR_RETURN_IF_ERROR(
        backend_.ScanRevisions(0, [&](const Revision& rev, Bytes value) -> Result<bool> {
          CPR_RETURN_IF_ERROR(builder.Add(rev, value, value.data() - file));
          return true;
        }));
    runs_ = CPR_TRY(builder.Finish());
    return {};
  }
  // The tree's leaves from its branch pages, then the leaves in file order
  // with large reads (bolt/page_index.h), in slices the pass's threads take
  // in turn (LiveScanOptions::threads), so one that meets lighter pages
  // takes more of them; each thread sorts its records into runs of its own.
  const std::vector<bolt::Pgid> leaves = CPR_TRY(bolt::PageIndex::TreeLeaves(r, ref->root));
  constexpr size_t kSlices = 64;
  const size_t per_slice = std::max<size_t>(1, (leaves.size() + kSlices - 1) / kSlices);
  const size_t workers = options.threads > 1 ? 2 : 1;
  std::vector<RunBuilder> parts;
  parts.reserve(workers);
  for (size_t i = 0; i < workers; i++)
    parts.emplace_back(backend_, options, options.memory_budget / workers);
  std::vector<std::vector<std::unique_ptr<Run>>> part_runs(workers);
  std::atomic<size_t> next_slice{0};
  std::atomic<bool> failed{false};
  // The error of the first slice that failed: slices are taken in order, so
  // every slice before it was read, whichever thread failed first.
  std::mutex error_mu;
  size_t error_slice = SIZE_MAX;
  Result<void> error;
  auto work = [&](size_t part) {
    // A slice once taken is read to its end (or its fault).
    while (!failed) {
      const size_t begin = next_slice.fetch_add(per_slice);
      if (begin >= leaves.size()) break;
      const std::span<const bolt::Pgid> ids(leaves.data() + begin,
                                            std::min(per_slice, leaves.size() - begin));
      size_t next = 0;
      Result<void> read =
          bolt::PageIndex::ReadPages(r, ids, [&](const bolt::PageView& page) -> Result<void> {
            if (page.id() != ids[next++] || !page.is_leaf())
              return page.Corrupt("not a leaf page, yet a child of the lowest branch level");
            return parts[part].AddPage(page);
          });
      if (!read) {
        const std::lock_guard<std::mutex> lock(error_mu);
        if (begin < error_slice) error_slice = begin, error = std::move(read);
        failed = true;
        return;
      }
    }
    if (failed) return;
    auto runs = parts[part].Finish();  // the last run, sorted on this thread too
    if (!runs) {
      const std::lock_guard<std::mutex> lock(error_mu);
      if (error_slice == SIZE_MAX) error_slice = leaves.size(), error = runs.error();
      failed = true;
      return;
    }
    part_runs[part] = std::move(*runs);
  };
  if (workers > 1) {
    std::thread other(work, 1);
    work(0);
    other.join();
  } else {
    work(0);
  }
  CPR_RETURN_IF_ERROR(error);
  for (auto& runs : part_runs)
    for (auto& run : runs) runs_.push_back(std::move(run));
  return {};
}

Result<const LiveEntry*> LiveScan::Next() {
  // heap_ is a min-heap of runs by their head entry.
  auto order = [&](size_t i) {
    return Order{runs_[i]->key(), runs_[i]->head.main, runs_[i]->head.sub};
  };
  auto after = [&](size_t a, size_t b) { return order(b) < order(a); };
  if (!started_) {
    started_ = true;
    // The runs are read side by side: their read buffers share the budget.
    for (auto& run : runs_)
      run->spool.set_read_buffer(std::min<uint64_t>(256 << 10, read_budget_ / runs_.size()));
    for (size_t i = 0; i < runs_.size(); i++)
      if (CPR_TRY(runs_[i]->Next())) heap_.push_back(i);
    std::make_heap(heap_.begin(), heap_.end(), after);
  }
  std::string key;
  while (!heap_.empty()) {
    key.assign(runs_[heap_.front()]->key());
    Packed best;
    // Every record of this key, oldest first: the newest wins.
    while (!heap_.empty() && runs_[heap_.front()]->key() == Bytes(key)) {
      std::pop_heap(heap_.begin(), heap_.end(), after);
      const size_t i = heap_.back();
      const Packed& h = runs_[i]->head;
      best = h;
      current_bytes_ = runs_[i]->head_bytes;
      const bool more = CPR_TRY(runs_[i]->Next());
      if (more) {
        std::push_heap(heap_.begin(), heap_.end(), after);
      } else {
        heap_.pop_back();
      }
    }
    if (best.tombstone) continue;
    const Bytes bytes(current_bytes_);
    current_ = LiveEntry{bytes.substr(0, best.key_size),
                         Revision{best.main, best.sub, false},
                         best.create_revision,
                         best.mod_revision,
                         best.version,
                         best.lease,
                         best.value_size,
                         best.value_crc,
                         best.record_offset,
                         best.record_size,
                         bytes.substr(best.key_size)};
    return &current_;
  }
  return static_cast<const LiveEntry*>(nullptr);
}

Result<Record> LiveScan::Read(const LiveEntry& e) { return Read(e, record_); }

Result<Record> LiveScan::Read(const LiveEntry& e, std::string& buf) const {
  buf.resize(e.record_size);
  CPR_RETURN_IF_ERROR(backend_.reader().file().ReadAt(e.record_offset, buf.data(), e.record_size));
  auto kv = DecodeKeyValue(buf);
  if (!kv)
    return MakeError(Code::kCorrupt,
                     fmt::format("{} revision {}", backend_.name(), e.rev.ToString()),
                     kv.error().what);
  return Record{e.rev, *kv};
}

namespace {

// What the merge walk found for a key: the pairs whose fields and CRCs all
// agree still need their values compared (kMaybeSame), then are kSame or
// kChanged.
enum class Found : uint8_t { kAdded, kRemoved, kChanged, kMaybeSame, kSame };

// Compares the values of a kMaybeSame pair: a read of each record into the
// caller's buffers (both threads of a diff compare).
Result<Found> CompareValues(const LiveScan& a, const LiveEntry& ea, const LiveScan& b,
                            const LiveEntry& eb, std::string (&bufs)[2]) {
  const Record ra = CPR_TRY(a.Read(ea, bufs[0]));
  const Record rb = CPR_TRY(b.Read(eb, bufs[1]));
  return ra.kv.value == rb.kv.value ? Found::kSame : Found::kChanged;
}

// A batch of what the walk found, handed from the walking thread to the
// visiting one. Entries are copied in: their keys and notes go into
// `bytes`, and the views are set once the batch is full.
struct DiffBatch {
  struct Item {
    Found found;
    LiveEntry a, b;  // a for kRemoved, b for kAdded, both otherwise
  };
  std::string bytes;
  std::vector<Item> items;
  size_t maybe_same = 0;  // items that are kMaybeSame

  void Add(Found found, const LiveEntry* a, const LiveEntry* b) {
    if (found == Found::kMaybeSame) maybe_same++;
    Item item{found, a ? *a : LiveEntry{}, b ? *b : LiveEntry{}};
    for (LiveEntry* e : {&item.a, &item.b}) {
      // Offsets into `bytes` until Seal(): it may still grow.
      at_.push_back(bytes.size());
      bytes.append(e->key).append(e->note);
    }
    items.push_back(item);
  }
  void Seal() {
    size_t k = 0;
    for (Item& item : items)
      for (LiveEntry* e : {&item.a, &item.b}) {
        const Bytes at = Bytes(bytes).substr(at_[k++]);
        e->key = at.substr(0, e->key.size());
        e->note = at.substr(e->key.size(), e->note.size());
      }
  }
  void Clear() {
    bytes.clear();
    items.clear();
    at_.clear();
    maybe_same = 0;
  }
  // Small: the batches in flight count in a reader's memory (~0.5 MB each).
  bool full() const { return items.size() >= 1024 || bytes.size() >= (256 << 10); }

 private:
  std::vector<size_t> at_;
};

// Batches from the walking thread to the visiting one, at most kInFlight
// at a time; either side can stop the other.
class BatchQueue {
 public:
  static constexpr size_t kInFlight = 3;

  // The walker: an empty batch to fill; null once the visitor stopped.
  std::unique_ptr<DiffBatch> Empty() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopped_ || !free_.empty() || made_ < kInFlight; });
    if (stopped_) return nullptr;
    if (free_.empty()) {
      made_++;
      return std::make_unique<DiffBatch>();
    }
    auto batch = std::move(free_.back());
    free_.pop_back();
    return batch;
  }
  // Batches pushed and not yet taken: the visitor is behind.
  size_t waiting() {
    const std::lock_guard<std::mutex> lock(mu_);
    return full_.size();
  }
  void Push(std::unique_ptr<DiffBatch> batch) {
    const std::lock_guard<std::mutex> lock(mu_);
    full_.push_back(std::move(batch));
    cv_.notify_all();
  }
  // The walker is done: `end` is why it stopped early, or ok.
  void Finish(Result<void> end) {
    const std::lock_guard<std::mutex> lock(mu_);
    end_ = std::move(end);
    finished_ = true;
    cv_.notify_all();
  }

  // The visitor: the next batch in order; null after the last.
  std::unique_ptr<DiffBatch> Take() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return finished_ || !full_.empty(); });
    if (full_.empty()) return nullptr;
    auto batch = std::move(full_.front());
    full_.pop_front();
    return batch;
  }
  void Recycle(std::unique_ptr<DiffBatch> batch) {
    batch->Clear();
    const std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(batch));
    cv_.notify_all();
  }
  // The visitor stops the walker (after an error of its own).
  void Stop() {
    const std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  // Why the walker stopped early (after Take() returned null).
  Result<void> end() {
    const std::lock_guard<std::mutex> lock(mu_);
    return end_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<DiffBatch>> full_;
  std::vector<std::unique_ptr<DiffBatch>> free_;
  size_t made_ = 0;
  bool finished_ = false, stopped_ = false;
  Result<void> end_;
};

// The merge walk in key order, on its own thread: what it finds goes to
// `queue` in batches. When the visitor is behind, the walker compares the
// values of the first half of a batch's kMaybeSame pairs before it goes
// (the visitor the rest): a diff of two near-equal files is mostly these
// reads.
Result<void> Walk(LiveScan& a, LiveScan& b, BatchQueue& queue) {
  std::string bufs[2];
  auto push = [&](std::unique_ptr<DiffBatch> full) -> Result<void> {
    full->Seal();
    size_t left = queue.waiting() > 0 ? full->maybe_same / 2 : 0;
    for (auto it = full->items.begin(); left > 0; ++it) {
      if (it->found != Found::kMaybeSame) continue;
      it->found = CPR_TRY(CompareValues(a, it->a, b, it->b, bufs));
      left--;
    }
    queue.Push(std::move(full));
    return {};
  };
  std::unique_ptr<DiffBatch> batch = queue.Empty();
  if (!batch) return {};
  const LiveEntry* ea = CPR_TRY(a.Next());
  const LiveEntry* eb = CPR_TRY(b.Next());
  while (ea != nullptr || eb != nullptr) {
    if (eb == nullptr || (ea != nullptr && ea->key < eb->key)) {
      batch->Add(Found::kRemoved, ea, nullptr);
      ea = CPR_TRY(a.Next());
    } else if (ea == nullptr || eb->key < ea->key) {
      batch->Add(Found::kAdded, nullptr, eb);
      eb = CPR_TRY(b.Next());
    } else {
      // Equal value, lease and version: what etcdctl would show as unchanged.
      const bool maybe_same = ea->lease == eb->lease && ea->version == eb->version &&
                              ea->value_size == eb->value_size && ea->value_crc == eb->value_crc;
      batch->Add(maybe_same ? Found::kMaybeSame : Found::kChanged, ea, eb);
      ea = CPR_TRY(a.Next());
      eb = CPR_TRY(b.Next());
    }
    if (batch->full()) {
      CPR_RETURN_IF_ERROR(push(std::move(batch)));
      batch = queue.Empty();
      if (!batch) return {};
    }
  }
  if (!batch->items.empty()) return push(std::move(batch));
  return {};
}

// One item, in key order, on the visiting thread.
Result<void> Visit(const LiveScan& a, const LiveScan& b, const DiffBatch::Item& item,
                   const DiffVisitor& visit, std::string (&bufs)[2]) {
  Found found = item.found;
  if (found == Found::kMaybeSame) found = CPR_TRY(CompareValues(a, item.a, b, item.b, bufs));
  switch (found) {
    case Found::kAdded:
      return visit.added(item.b);
    case Found::kRemoved:
      return visit.removed(item.a);
    case Found::kChanged:
      return visit.changed(item.a, item.b);
    case Found::kMaybeSame:
    case Found::kSame:
      break;
  }
  visit.unchanged();
  return {};
}

}  // namespace

Result<void> Diff(LiveScan& a, LiveScan& b, const DiffVisitor& visit) {
  // Two threads: the walk (merging each scan's runs) on one, the visits on
  // this one; both compare values (Walk).
  BatchQueue queue;
  std::thread walker([&] { queue.Finish(Walk(a, b, queue)); });
  Result<void> visited;
  std::string bufs[2];
  while (auto batch = queue.Take()) {
    for (const DiffBatch::Item& item : batch->items) {
      visited = Visit(a, b, item, visit, bufs);
      if (!visited) break;
    }
    if (!visited) break;
    queue.Recycle(std::move(batch));
  }
  if (!visited) queue.Stop();
  walker.join();
  CPR_RETURN_IF_ERROR(visited);
  return queue.end();
}

}  // namespace cpr::etcd
