// Verify: is this snapshot (or bare db) sound? Three checks, every fault
// listed (not just the first):
//   trailer  the SHA-256 trailer (etcd-formats.md §3), unless skipped;
//   bolt     the bbolt structure (bolt/check.h);
//   schema   etcd's schema (§2): exactly etcd 3.4's ten top-level buckets
//            (§2.1: a bucket renamed by one byte keeps bbolt's order valid,
//            and etcd boots on the file without its records), revision keys
//            with a sub revision etcd can write (§2.2), KeyValue records
//            whose mod_revision equals their key's revision,
//            meta/consistent_index, member JSON, leases, alarms, no nested
//            buckets.
// A fault is repairable when it is only in what can be derived from the
// records (the freelist, unreferenced pages, a missing bucket a restore
// writes anew): `restore --repair` rebuilds it. The trailer is hashed on a
// second thread while the tree is walked.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "bolt/check.h"
#include "etcd/backend.h"
#include "etcd/revision.h"
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
  // Derivable from the records (the freelist, unreferenced pages, a missing
  // bucket etcd keeps no data in): `restore --repair` rebuilds it. Every
  // other fault is in the data itself and refuses a restore.
  bool repairable = false;
};

struct VerifyReport {
  bool trailer_present = false;
  bool trailer_checked = false;
  std::string trailer_sha256;  // stored trailer, hex
  uint64_t pages = 0;          // high-water mark
  uint64_t revisions = 0;      // records in the `key` bucket
  int64_t revision = 0;        // newest
  uint64_t fault_count = 0;
  uint64_t repairable_count = 0;  // of fault_count
  std::vector<VerifyFault> faults;
  bool ok() const { return fault_count == 0; }
  // Faults, and every one of them repairable.
  bool only_repairable() const { return fault_count > 0 && repairable_count == fault_count; }
  uint64_t data_faults() const { return fault_count - repairable_count; }
};

// The schema half of verify, as a walk visitor; a restore subclasses it to
// write what it checks in the same pass.
class SchemaCheck : public bolt::WalkVisitor {
 public:
  explicit SchemaCheck(size_t max_faults) : max_(max_faults) {}
  VerifyReport& report() { return report_; }
  // Records a fault (all are counted; the first max_faults are kept).
  void Add(const std::string& check, uint64_t page, std::string what, bool repairable = false);
  // Faults that only the end of the walk can see (a missing bucket).
  void Finish();
  // Records of the key bucket are about to come from another leaf, not
  // necessarily the next in key order (a check that reads leaves in file
  // order): forget the revision run that spans leaves.
  void StartLeaf() { run_main_ = -1; }

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

  void SubRevision(const Revision& rev, Bytes user_key);

  VerifyReport report_;
  size_t max_;
  bolt::Pgid page_ = 0;
  std::vector<std::string> buckets_;  // top-level buckets seen
  bool saw_consistent_index_ = false;
  // The records of one main revision (one transaction) so far: their user
  // keys must differ (§2.2). Most revisions hold one record: the set is
  // filled only from the second.
  int64_t run_main_ = -1;
  std::string run_first_key_;
  std::set<std::string, std::less<>> run_keys_;
};

// Verifies an open backend with `check` walking the tree (the trailer is
// hashed on a second thread meanwhile).
VerifyReport VerifyOpened(const Backend& backend, const VerifyOptions& options, SchemaCheck& check);

// An Error only when the file cannot be opened as bbolt at all (missing,
// not bbolt, both metas bad, truncated below its high-water mark); every
// other problem is a fault in the report.
Result<VerifyReport> Verify(const std::string& path, const VerifyOptions& options);

}  // namespace cpr::etcd
