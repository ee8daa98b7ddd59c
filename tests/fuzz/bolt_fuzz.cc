// libFuzzer target: any bytes as a snapshot file. Whatever the input, the
// reader, status, the restore's file-order check, verify's tree walk with
// the schema check (bolt::Walk, as bolt::Check) and the MVCC scans must
// return (an error is fine) without crashing, hanging or reading out of
// bounds.
//
// Speed (issue 13; bench/RESULTS.md): everything runs on the calling
// thread and nothing allocates by the chunk. Verify hashes the trailer on a
// thread of its own unless skip_hash_check is set, so the target sets it and
// calls CheckTrailer itself; status and the page index read a file under
// two chunks per part on one thread. Seeds: tests/fuzz/corpus/, made by
// tests/fuzz/make_seeds.py.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "bolt/page_index.h"
#include "etcd/file_order_check.h"
#include "etcd/mvcc.h"
#include "etcd/restore_db.h"
#include "etcd/snapshot_file.h"
#include "etcd/status.h"
#include "etcd/verify.h"

namespace {

using namespace cpr;

// CPR_FUZZ_ORACLE=1: abort when the restore's file-order check and verify's
// tree walk disagree on whether the file has a fault (a restore would
// proceed on a file verify rejects, or refuse one it accepts).
const bool kOracle = std::getenv("CPR_FUZZ_ORACLE") != nullptr;

// A restore's view of the buckets (etcd/restore_db.cc's RestoreVisitor):
// meta and alarm element by element, every other bucket as whole leaves.
// Nothing is written; the views are only looked at.
class Visitor : public etcd::FileOrderVisitor {
 public:
  bool ByElement(Bytes bucket) override {
    return bucket == etcd::kMetaBucket || bucket == etcd::kAlarmBucket;
  }
  Result<void> OnLeaf(bolt::Pgid id, uint32_t overflow, Bytes first_key, uint64_t rank) override {
    sum_ += id + overflow + first_key.size() + rank;
    return {};
  }
  Result<void> OnElement(const bolt::LeafElement& e) override {
    sum_ += e.key.size() + e.value.size();
    return {};
  }

 private:
  uint64_t sum_ = 0;
};

// The checks that decide whether `snapshot restore` proceeds: the
// file-order pass (etcd/file_order_check.h) over a page index, as
// WriteRestoredDb runs it. Returns its fault count.
uint64_t FileOrderFaults(const etcd::Backend& backend) {
  const bolt::Reader& r = backend.reader();
  etcd::FileOrderCheck::Options fo;
  fo.forbidden_key = std::string(etcd::kBumpKey);
  fo.forbidden_why = "the snapshot already holds the bump key";
  etcd::FileOrderCheck files(fo);
  auto index =
      bolt::PageIndex::Build(r, [&](const bolt::PageView& page) { files.OnLeafPage(page); });
  if (!index) return 1;
  Visitor visitor;
  (void)files.Run(r, *index, visitor);
  return files.check().report().fault_count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = MappedFile::FromBytes(Bytes(reinterpret_cast<const char*>(data), size), "fuzz.db");
  auto reader = bolt::Reader::Open(std::move(file), bolt::Reader::Options{});
  if (!reader) return 0;
  auto backend = etcd::Backend::Over(std::move(*reader));
  (void)etcd::ComputeStatus(*backend);

  // The restore's file-order check, then `snapshot verify`: the trailer here
  // and the tree walk (bolt::Walk, as bolt::Check) with the schema check. A
  // restore runs that walk too when the file-order check finds a fault.
  const uint64_t file_order_faults = FileOrderFaults(*backend);
  (void)etcd::CheckTrailer(backend->reader().file());
  etcd::VerifyOptions vo;
  vo.skip_hash_check = true;  // no hasher thread: the trailer was checked above
  vo.max_faults = 100;
  etcd::SchemaCheck schema(vo.max_faults);
  const etcd::VerifyReport report = etcd::VerifyOpened(*backend, vo, schema);
  if (kOracle && (file_order_faults == 0) != report.ok()) {
    std::fprintf(stderr, "file-order check: %llu faults; verify: %llu faults\n",
                 static_cast<unsigned long long>(file_order_faults),
                 static_cast<unsigned long long>(report.fault_count));
    for (const auto& f : report.faults)
      std::fprintf(stderr, "  %s page %llu: %s\n", f.check.c_str(),
                   static_cast<unsigned long long>(f.page), f.what.c_str());
    std::abort();
  }

  auto rev = etcd::ResolveRevision(*backend, 0);
  if (rev) {
    auto set = etcd::LiveKeys(*backend, *rev, "");
    if (set)
      for (size_t i = 0; i < set->size() && i < 50; i++) (void)set->record(i);
    (void)etcd::History(*backend, "foo");
    (void)etcd::GetKey(*backend, "leased", *rev);
  }
  return 0;
}
