#include "etcd/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "bolt/check.h"
#include "etcd/backend.h"
#include "etcd/snapshot_file.h"
#include "util/text.h"

namespace cpr::etcd {

void SchemaCheck::Add(const std::string& check, uint64_t page, std::string what, bool repairable) {
  report_.fault_count++;
  if (repairable) report_.repairable_count++;
  if (report_.faults.size() < max_)
    report_.faults.push_back({check, page, std::move(what), repairable});
}

bool SchemaCheck::OnFault(const bolt::Fault& f) {
  Add("bolt", f.page, f.ToString(), f.derivable);
  return true;
}

void SchemaCheck::OnPage(const bolt::PageView& page, int) { page_ = page.id(); }

void SchemaCheck::OnBucketBegin(int depth, Bytes name, const bolt::BucketRef&) {
  if (depth > 1) {
    Add("schema", page_,
        fmt::format("nested bucket '{}': etcd never creates one", Printable(name)));
    return;
  }
  bucket_ = std::string(name);
  buckets_.push_back(bucket_);
  // One changed byte in a bucket's name keeps bbolt's order valid, and etcd
  // would boot on the file without that bucket's records (it creates an
  // empty one): a name etcd never writes is a fault in the data.
  if (std::find(std::begin(kEtcdBuckets), std::end(kEtcdBuckets), name) == std::end(kEtcdBuckets))
    Add("schema", page_,
        fmt::format("unknown top-level bucket '{}': etcd 3.4 writes only alarm, auth, authRoles, "
                    "authUsers, cluster, key, lease, members, members_removed and meta (a "
                    "damaged bucket name?)",
                    Printable(name)));
}

void SchemaCheck::OnElement(int depth, const bolt::LeafElement& e) {
  if (depth != 1) return;
  if (e.is_bucket()) return;  // reported at OnBucketBegin
  if (bucket_ == kKeyBucket) return KeyRecord(e);
  if (bucket_ == kLeaseBucket) return LeaseRecord(e);
  if (bucket_ == kMembersBucket) return MemberRecord(e);
  if (bucket_ == kAlarmBucket) {
    if (!DecodeAlarm(e.key)) Add("schema", page_, "alarm key is not an AlarmMember protobuf");
    return;
  }
  if (bucket_ == kMetaBucket) return MetaRecord(e);
}

void SchemaCheck::Finish() {
  auto seen = [&](std::string_view b) {
    return std::find(buckets_.begin(), buckets_.end(), b) != buckets_.end();
  };
  for (std::string_view b : kEtcdBuckets) {
    if (seen(b)) continue;
    if (IsDerivableBucket(b))
      Add("schema", 0,
          fmt::format("bucket '{}' is missing (etcd 3.4 always writes it; its content is "
                      "derivable: restore --repair writes it anew)",
                      b),
          /*repairable=*/true);
    else
      Add("schema", 0,
          fmt::format("bucket '{}' is missing: etcd would boot on this file without its "
                      "records{}",
                      b, b == kMetaBucket ? " (not an etcd backend?)" : ""));
  }
  // A member that has applied no write yet (a fresh cluster: `etcdctl
  // snapshot save` right after bootstrap) has not stored one; restore sets
  // it anyway (etcd-formats.md 6.2).
  if (seen(kMetaBucket) && !saw_consistent_index_ && report_.revisions > 0)
    Add("schema", 0, "meta/consistent_index is missing");
}

// Bytes 9..16 of a revision key (§2.2): the change's index within its
// transaction. etcd numbers a transaction's changes 0, 1, ... (compaction
// may remove some), one per user key: a transaction naming a key twice is
// refused ("duplicate key given in txn request").
void SchemaCheck::SubRevision(const Revision& rev, Bytes user_key) {
  // A transaction fits in one request (< 2 GiB), so its index fits in 31 bits.
  constexpr int64_t kMaxSub = INT32_MAX;
  if (rev.main < 1 || rev.sub < 0 || rev.sub > kMaxSub) {
    Add("schema", page_,
        fmt::format("revision {}: impossible for etcd (main >= 1, sub 0..{})", rev.ToString(),
                    kMaxSub));
    return;
  }
  if (rev.main != run_main_) {
    run_main_ = rev.main;
    run_first_key_.assign(user_key);
    run_keys_.clear();
    return;
  }
  if (run_keys_.empty()) run_keys_.insert(run_first_key_);
  if (!run_keys_.emplace(user_key).second)
    Add("schema", page_,
        fmt::format("revision {}: key {} changed twice in one transaction", rev.ToString(),
                    Printable(user_key)));
}

void SchemaCheck::KeyRecord(const bolt::LeafElement& e) {
  auto rev = Revision::Parse(e.key);
  report_.revisions++;
  if (!rev) {
    Add("schema", page_,
        fmt::format("key bucket: {}-byte key {} is not a revision (17 bytes, or 18 ending in 't')",
                    e.key.size(), Printable(e.key)));
    return;
  }
  report_.revision = std::max(report_.revision, rev->main);  // restore reads leaves in file order
  auto kv = DecodeKeyValue(e.value);
  if (!kv) {
    Add("schema", page_,
        fmt::format("revision {}: value is not a KeyValue: {}", rev->ToString(), kv.error().what));
    return;
  }
  if (kv->key.empty())
    Add("schema", page_, fmt::format("revision {}: empty user key", rev->ToString()));
  SubRevision(*rev, kv->key);
  if (rev->tombstone) return;  // a tombstone holds only the key (§2.2)
  if (kv->mod_revision != rev->main)
    Add("schema", page_,
        fmt::format("revision {}: mod_revision {} differs from the key's revision", rev->ToString(),
                    kv->mod_revision));
  if (kv->create_revision <= 0 || kv->create_revision > kv->mod_revision || kv->version <= 0)
    Add("schema", page_,
        fmt::format("revision {}: create_revision {} / version {} impossible for mod_revision {}",
                    rev->ToString(), kv->create_revision, kv->version, kv->mod_revision));
}

void SchemaCheck::LeaseRecord(const bolt::LeafElement& e) {
  auto lease = DecodeLease(e.value);
  if (e.key.size() != 8 || !lease) {
    Add("schema", page_,
        fmt::format("lease {}: not an 8-byte ID with a Lease record", Printable(e.key)));
    return;
  }
  if (static_cast<uint64_t>(lease->id) != LoadBe64(e.key.data()))
    Add("schema", page_,
        fmt::format("lease {:x}: record says ID {:x}", LoadBe64(e.key.data()), lease->id));
}

void SchemaCheck::MemberRecord(const bolt::LeafElement& e) {
  auto m = DecodeMember(e.value);
  if (!m) {
    Add("schema", page_, fmt::format("members/{}: {}", Printable(e.key), m.error().what));
    return;
  }
  if (MemberIdHex(m->id) != e.key)
    Add("schema", page_, fmt::format("members/{}: record says ID {:x}", Printable(e.key), m->id));
}

void SchemaCheck::MetaRecord(const bolt::LeafElement& e) {
  if (e.key == "consistent_index") {
    saw_consistent_index_ = true;
    if (e.value.size() != 8)
      Add("schema", page_,
          fmt::format("meta/consistent_index is {} bytes, want 8", e.value.size()));
  } else if (e.key == "finishedCompactRev" || e.key == "scheduledCompactRev") {
    if (!Revision::Parse(e.value))
      Add("schema", page_, fmt::format("meta/{} is not a revision", std::string(e.key)));
  }
}

Result<VerifyReport> Verify(const std::string& path, const VerifyOptions& options) {
  bolt::Reader::Options ro;
  ro.prefetch = true;
  auto backend = CPR_TRY(Backend::Open(path, ro));
  SchemaCheck check(options.max_faults);
  return VerifyOpened(*backend, options, check);
}

VerifyReport VerifyOpened(const Backend& backend, const VerifyOptions& options, SchemaCheck& v) {
  const bolt::Reader& r = backend.reader();
  VerifyReport& report = v.report();
  report.pages = r.meta().pgid;
  report.trailer_present = HasHashTrailer(r.file().size());
  TrailerCheck trailer;
  std::thread hasher;
  if (report.trailer_present && !options.skip_hash_check) {
    report.trailer_checked = true;
    hasher = std::thread([&] { trailer = CheckTrailer(r.file()); });
  }
  if (!report.trailer_present && !options.skip_hash_check)
    v.Add("trailer", 0,
          fmt::format("no SHA-256 trailer ({} bytes is not 32 past a multiple of 512); a db "
                      "copied from a data dir has none: pass --skip-hash-check",
                      r.file().size()));
  if (!r.meta_fault().empty()) v.Add("bolt", r.meta_page() == 0 ? 1 : 0, r.meta_fault());
  // A snapshot is exactly its pages plus the trailer (§3.1); a db from a data
  // dir may be longer (bbolt grows its file ahead of use).
  if (report.trailer_present && r.file().size() != r.meta().pgid * r.page_size() + kTrailerSize)
    v.Add("bolt", 0,
          fmt::format("{} bytes, but {} pages of {} plus the trailer make {}", r.file().size(),
                      r.meta().pgid, r.page_size(), r.meta().pgid * r.page_size() + kTrailerSize));
  bolt::Walk(r, v);
  v.Finish();
  if (hasher.joinable()) {
    hasher.join();
    report.trailer_sha256 = trailer.stored_hex;
    if (!trailer.matches)
      v.Add("trailer", 0,
            fmt::format("SHA-256 mismatch: trailer {}, content {}", trailer.stored_hex,
                        trailer.computed_hex));
  }
  return report;
}

}  // namespace cpr::etcd
