// Verify: is this snapshot (or bare db) sound? Three checks, every fault
// listed (not just the first):
//   trailer  the SHA-256 trailer (etcd-formats.md §3), unless skipped;
//   bolt     the bbolt structure (bolt/check.h);
//   schema   etcd's schema (§2): revision keys, KeyValue records whose
//            mod_revision equals their key's revision, meta/consistent_index,
//            member JSON, leases, alarms, no nested buckets.
// The trailer is hashed on a second thread while the tree is walked.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bolt/check.h"
#include "etcd/backend.h"
#include "util/result.h"

namespace cpr::etcd {

struct VerifyOptions {
  bool skip_hash_check = false;
  size_t max_faults = 1000;  // faults kept; all are counted
};

struct VerifyFault {
  std::string check;  // "trailer", "bolt", "schema"
  uint64_t page = 0;  // 0: not about one page
  std::string what;
};

struct VerifyReport {
  bool trailer_present = false;
  bool trailer_checked = false;
  std::string trailer_sha256;  // stored trailer, hex
  uint64_t pages = 0;          // high-water mark
  uint64_t revisions = 0;      // records in the `key` bucket
  int64_t revision = 0;        // newest
  uint64_t fault_count = 0;
  std::vector<VerifyFault> faults;
  bool ok() const { return fault_count == 0; }
};

// The schema half of verify, as a walk visitor; a restore subclasses it to
// write what it checks in the same pass.
class SchemaCheck : public bolt::WalkVisitor {
 public:
  explicit SchemaCheck(size_t max_faults) : max_(max_faults) {}
  VerifyReport& report() { return report_; }
  // Records a fault (all are counted; the first max_faults are kept).
  void Add(const std::string& check, uint64_t page, std::string what);
  // Faults that only the end of the walk can see (a missing meta bucket).
  void Finish();

  bool OnFault(const bolt::Fault& f) override;
  void OnPage(const bolt::PageView& page, int depth) override;
  void OnBucketBegin(int depth, Bytes name, const bolt::BucketRef& ref) override;
  void OnElement(int depth, const bolt::LeafElement& e) override;

 protected:
  std::string bucket_;  // the top-level bucket being walked

 private:
  void KeyRecord(const bolt::LeafElement& e);
  void LeaseRecord(const bolt::LeafElement& e);
  void MemberRecord(const bolt::LeafElement& e);
  void MetaRecord(const bolt::LeafElement& e);

  VerifyReport report_;
  size_t max_;
  bolt::Pgid page_ = 0;
  bool saw_meta_ = false;
  bool saw_consistent_index_ = false;
};

// Verifies an open backend with `check` walking the tree (the trailer is
// hashed on a second thread meanwhile).
VerifyReport VerifyOpened(const Backend& backend, const VerifyOptions& options, SchemaCheck& check);

// An Error only when the file cannot be opened as bbolt at all (missing,
// not bbolt, both metas bad, truncated below its high-water mark); every
// other problem is a fault in the report.
Result<VerifyReport> Verify(const std::string& path, const VerifyOptions& options);

}  // namespace cpr::etcd
