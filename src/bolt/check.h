// Walk and Check: one pass over every reachable page of a bbolt file.
//
// Walk visits the tree from the meta page's root the way bbolt's Tx.Check
// does (etcd-formats.md §1.12), and hands the visitor every page once, every
// bucket and every leaf element in key order. Faults do not stop it: the
// subtree under a bad page is skipped, the fault reported, and the walk goes
// on, so a verify lists every fault (like bbolt's tx_check.go), not just the
// first.
//
// Checked, beyond bbolt's own Check: element bounds, keys strictly ascending
// within and across the pages of a bucket, root-bucket elements being
// buckets, branch pages being non-empty, and the freelist page's ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bolt/reader.h"

namespace cpr::bolt {

struct Fault {
  Pgid page = 0;           // 0 when not about one page
  std::vector<Pgid> path;  // page ids from the root bucket's root down to `page`
  std::string what;
  // True when the fault is only in what bbolt derives from the tree (the
  // freelist, pages neither reachable nor free): a writer that computes the
  // freelist anew repairs it without losing a record.
  bool derivable = false;
  // "page 42 via 3>17>42: key 5 not after key 4"
  std::string ToString() const;
};

class WalkVisitor {
 public:
  virtual ~WalkVisitor() = default;
  // Each reachable branch/leaf page, once (depth 1 = pages of top-level buckets' trees).
  virtual void OnPage(const PageView& /*page*/, int /*bucket_depth*/) {}
  // A bucket starts (depth 1 = top-level bucket) / ends.
  virtual void OnBucketBegin(int /*depth*/, Bytes /*name*/, const BucketRef& /*ref*/) {}
  virtual void OnBucketEnd(int /*depth*/) {}
  // A leaf element of a bucket at `depth`, in key order. Elements of the root
  // bucket (depth 0) are the top-level buckets themselves.
  virtual void OnElement(int /*depth*/, const LeafElement& /*e*/) {}
  // A fault; return false to stop the walk.
  virtual bool OnFault(const Fault& /*f*/) { return true; }
};

struct WalkSummary {
  uint64_t reachable_pages = 0;  // including metas, freelist and overflow pages
  uint64_t free_pages = 0;       // listed in the freelist, or computed (§1.9.2)
  uint64_t faults = 0;
  bool stopped = false;  // the visitor asked to stop
};

WalkSummary Walk(const Reader& reader, WalkVisitor& visitor);

// Every fault of the file, up to `limit`.
std::vector<Fault> Check(const Reader& reader, size_t limit = 1000);

}  // namespace cpr::bolt
