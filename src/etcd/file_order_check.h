// FileOrderCheck: the structure and schema checks of `snapshot verify`,
// made without walking the trees through the file. A walk in key order
// reads pages in random file order (a page fault each); this reads the file
// front to back:
//
//   pass 1  every page in file order: bolt::PageIndex::Build over a file, or
//           PageIndex::Stream over a snapshot being received. Each
//           leaf-looking page is handed to OnLeafPage(), which checks it as
//           a leaf of the key bucket (the bulk of any etcd db: element
//           bounds, key order, every record's schema) and keeps a summary;
//           which pages the key bucket reaches is known only afterwards.
//   pass 2  Run(): the trees through the index; the key bucket's leaves by
//           their pass-1 verdicts and key ranges; the other buckets' leaves
//           read in file order and checked record by record.
//
// A visitor sees every top-level bucket in name order, as whole leaves
// (with their rank in key order: a restore keeps them in place) or element
// by element (inline buckets, and those a visitor asks for). Any fault is
// counted in check(): the caller then asks the tree walk of `snapshot
// verify` (etcd/verify.h) for the full list, with its messages.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bolt/page_index.h"
#include "etcd/verify.h"
#include "util/result.h"

namespace cpr::etcd {

class FileOrderVisitor {
 public:
  virtual ~FileOrderVisitor() = default;
  // True: `bucket` (non-inline) goes to OnElement, not OnLeaf.
  virtual bool ByElement(Bytes /*bucket*/) { return false; }
  virtual Result<void> OnBucketBegin(Bytes /*name*/) { return {}; }
  // A checked leaf of the bucket, with its rank in key order (any order of
  // calls). Not called once a fault is known.
  virtual Result<void> OnLeaf(bolt::Pgid /*id*/, uint32_t /*overflow*/, Bytes /*first_key*/,
                              uint64_t /*rank*/) {
    return {};
  }
  // A checked record, in key order; views valid until OnBucketEnd.
  virtual Result<void> OnElement(const bolt::LeafElement& /*e*/) { return {}; }
  virtual Result<void> OnBucketEnd() { return {}; }
};

class FileOrderCheck {
 public:
  struct Options {
    size_t max_faults = 50;
    // A user key no record may have (restore's --bump-revision key), and
    // what to say if one does.
    std::string forbidden_key;
    std::string forbidden_why;
  };
  explicit FileOrderCheck(Options options);
  ~FileOrderCheck();
  FileOrderCheck(const FileOrderCheck&) = delete;
  FileOrderCheck& operator=(const FileOrderCheck&) = delete;

  // Pass 1: each leaf-looking page, once, in any order.
  void OnLeafPage(const bolt::PageView& page);

  // Pass 2. Faults go to check(); an error is the visitor's or an I/O
  // error. Also checks the meta pages and, for a snapshot, the file size.
  Result<void> Run(const bolt::Reader& reader, bolt::PageIndex& index, FileOrderVisitor& visitor);

  // The faults, and revisions/revision of the key bucket (as Verify's).
  SchemaCheck& check() { return check_; }
  uint64_t records() const { return records_; }

 private:
  class KeyLeaves;
  class Pass2;

  Options options_;
  std::unique_ptr<KeyLeaves> key_leaves_;
  SchemaCheck check_;
  uint64_t records_ = 0;
};

// When check() holds faults: the full report of the tree walk of `snapshot
// verify` (or check()'s own, should that walk find nothing).
VerifyReport FullReport(const Backend& backend, FileOrderCheck& check, bool skip_hash_check);

}  // namespace cpr::etcd
