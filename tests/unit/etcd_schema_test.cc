// etcd schema, status and MVCC views on the fixtures of etcd-formats.md
// (snapA: puts, a delete, a lease, compaction at 4, a txn at 10).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "etcd/hashkv.h"
#include "etcd/live_keys.h"
#include "etcd/live_scan.h"
#include "etcd/mvcc.h"
#include "etcd/records.h"
#include "etcd/revision.h"
#include "etcd/status.h"
#include "etcd/verify.h"
#include "util/hash.h"

namespace cpr::etcd {
namespace {

std::string Fixture(const std::string& name) {
  return std::string(CPR_FIXTURES) + "/etcd-formats/" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// A temporary copy of a fixture that a test may damage.
class TempCopy {
 public:
  explicit TempCopy(const std::string& bytes) {
    char name[] = "/tmp/cpr-test-XXXXXX";
    int fd = mkstemp(name);
    path_ = name;
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  ~TempCopy() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Revision, ParsesAndEncodes) {
  auto r = Revision::Parse(Unhex("000000000000000a5f000000000000000274"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->main, 10);
  EXPECT_EQ(r->sub, 2);
  EXPECT_TRUE(r->tombstone);
  EXPECT_EQ(r->Encode(), Unhex("000000000000000a5f000000000000000274"));
  EXPECT_FALSE(Revision::Parse("short"));
  EXPECT_FALSE(Revision::Parse(Unhex("000000000000000a40000000000000000274")));  // no '_'
  EXPECT_FALSE(Revision::Parse(Unhex("000000000000000a5f000000000000000275")));  // not 't'
}

TEST(Records, KeyValueFromFormatsDoc) {
  // etcd-formats.md §2.2: key "leased", create 7, mod 7, version 1, value "v", lease.
  const std::string record = Unhex(
      "0a066c6561736564100718072001"
      "2a0176"
      "308ac8af8f90c3e8fb64");
  auto kv = DecodeKeyValue(record);  // views into `record`
  ASSERT_TRUE(kv) << kv.error().ToString();
  EXPECT_EQ(kv->key, "leased");
  EXPECT_EQ(kv->create_revision, 7);
  EXPECT_EQ(kv->mod_revision, 7);
  EXPECT_EQ(kv->version, 1);
  EXPECT_EQ(kv->value, "v");
  EXPECT_EQ(static_cast<uint64_t>(kv->lease), 0x64f7a21901ebe40aULL);
  EXPECT_EQ(*KeyValueUserKey(record), "leased");
  EXPECT_FALSE(DecodeKeyValue(Unhex("0a09616263")));  // length past the end
}

TEST(Records, LeaseAlarmMember) {
  auto lease = DecodeLease(Unhex("088ac8af8f90c3e8fb6410901c"));
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->ttl, 3600);
  auto alarm = DecodeAlarm(Unhex("08d4bdb8c7b0cffe80561001"));
  ASSERT_TRUE(alarm);
  EXPECT_EQ(alarm->member_id, 0x5601fa7b08ee1ed4ULL);
  EXPECT_EQ(alarm->TypeName(), "NOSPACE");
  auto m = DecodeMember(
      R"({"id":3496565436249040119,"peerURLs":["http://127.0.0.1:24380"],"name":"n1","clientURLs":["http://127.0.0.1:24379"]})");
  ASSERT_TRUE(m);
  EXPECT_EQ(MemberIdHex(m->id), "30864bbd198864f7");
  EXPECT_EQ(m->name, "n1");
  EXPECT_FALSE(DecodeMember("{not json"));
  EXPECT_EQ(MemberIdHex(0x030bffc9103d823aULL), "30bffc9103d823a");  // no leading zeros
}

TEST(Status, EqualsEtcdctlOnFixtures) {
  struct Want {
    const char* file;
    uint32_t hash;
    int64_t revision;
    uint64_t keys, size;
  };
  // etcd-formats.md §4.3, made by etcdctl 3.4.23.
  for (const Want& w : {Want{"snapA.db", 47122888, 10, 17, 20480},
                        Want{"snapB.db", 4215989842u, 59, 1531, 512000}}) {
    auto b = Backend::Open(Fixture(w.file));
    ASSERT_TRUE(b) << b.error().ToString();
    auto s = ComputeStatus(**b);
    ASSERT_TRUE(s) << s.error().ToString();
    EXPECT_EQ(s->hash, w.hash) << w.file;
    EXPECT_EQ(s->revision, w.revision) << w.file;
    EXPECT_EQ(s->total_key, w.keys) << w.file;
    EXPECT_EQ(s->total_size, w.size) << w.file;
  }
}

TEST(LiveKeyCounter, ReservedCountsAsGrown) {
  // Status sizes the table once from the key bucket's record count: the
  // count must not depend on it.
  LiveKeyCounter grown, reserved;
  reserved.Reserve(30000);
  for (int i = 0; i < 30000; i++) {
    const std::string key = fmt::format("/registry/pods/ns/p{}", i % 12000);
    const bool tombstone = i % 7 == 0;
    grown.Add(key, tombstone);
    reserved.Add(key, tombstone);
  }
  ASSERT_TRUE(grown.count());
  EXPECT_EQ(grown.count(), reserved.count());
  EXPECT_GT(*grown.count(), 0u);
}

TEST(Status, SnapADetails) {
  auto b = Backend::Open(Fixture("snapA.db"));
  auto s = ComputeStatus(**b);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->consistent_index, 15u);
  EXPECT_EQ(s->compact_revision, 4);
  EXPECT_EQ(s->live_keys, 5u);
  EXPECT_EQ(s->leases, 1u);
  EXPECT_EQ(s->cluster_version, "3.4.0");
  ASSERT_EQ(s->members.size(), 1u);
  EXPECT_EQ(s->buckets.size(), 10u);
  EXPECT_TRUE(s->has_trailer);
}

TEST(Mvcc, LiveKeysAtRevisions) {
  auto b = Backend::Open(Fixture("snapA.db"));
  auto latest = ResolveRevision(**b, 0);
  ASSERT_TRUE(latest);
  EXPECT_EQ(*latest, 10);
  auto set = LiveKeys(**b, 10, "");
  ASSERT_TRUE(set);
  std::vector<std::string> keys;
  for (size_t i = 0; i < set->size(); i++) keys.emplace_back(set->key(i));
  EXPECT_EQ(keys, (std::vector<std::string>{"/a/b/c", "after-compact", "leased", "t1", "t2"}));
  auto prefixed = LiveKeys(**b, 10, "t");
  ASSERT_TRUE(prefixed);
  EXPECT_EQ(prefixed->size(), 2u);
  // "foo" was deleted at revision 10 (a tombstone, §2.2): alive at 9, gone at 10.
  auto at9 = GetKey(**b, "foo", 9);
  ASSERT_TRUE(at9);
  EXPECT_TRUE(at9->has_value());
  auto at10 = GetKey(**b, "foo", 10);
  ASSERT_TRUE(at10);
  EXPECT_FALSE(at10->has_value());
  auto history = History(**b, "foo");
  ASSERT_TRUE(history);
  ASSERT_FALSE(history->empty());
  EXPECT_TRUE(history->back().rev.tombstone);
  EXPECT_EQ(history->back().rev.main, 10);
}

TEST(Mvcc, RefusesCompactedAndFutureRevisions) {
  auto b = Backend::Open(Fixture("snapA.db"));
  auto old = ResolveRevision(**b, 3);
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().what.find("compacted"), std::string::npos);
  auto future = ResolveRevision(**b, 11);
  ASSERT_FALSE(future);
  EXPECT_NE(future.error().what.find("future revision"), std::string::npos);
  EXPECT_TRUE(ResolveRevision(**b, 4));  // the compaction revision itself is readable
}

std::unique_ptr<LiveScan> Scan(const Backend& b, int64_t rev, uint64_t budget = 24 << 20) {
  LiveScanOptions o;
  o.revision = rev;
  o.crc_values = true;
  o.memory_budget = budget;
  o.annotate = [](const Record& r, std::string& note) { note = r.kv.value; };
  auto scan = LiveScan::Start(b, std::move(o));
  EXPECT_TRUE(scan) << (scan ? "" : scan.error().ToString());
  return scan ? std::move(*scan) : nullptr;
}

// Every live key's key, revision and note, in the order the scan gives them.
std::vector<std::string> Drain(LiveScan& scan) {
  std::vector<std::string> out;
  for (;;) {
    auto e = scan.Next();
    EXPECT_TRUE(e);
    if (!e || *e == nullptr) return out;
    out.push_back(fmt::format("{} {} {}", (*e)->key, (*e)->rev.ToString(), (*e)->note));
  }
}

TEST(Mvcc, LiveScanMatchesLiveKeysWhateverItsBudget) {
  for (const char* name : {"snapA.db", "snapB.db"}) {
    auto b = Backend::Open(Fixture(name));
    ASSERT_TRUE(b);
    const int64_t rev = *ResolveRevision(**b, 0);
    auto set = LiveKeys(**b, rev, "");
    ASSERT_TRUE(set);
    std::vector<std::string> want;
    for (size_t i = 0; i < set->size(); i++)
      want.push_back(fmt::format("{} {} {}", set->key(i), set->revision(i).ToString(),
                                 set->record(i)->kv.value));
    // 1 byte: every entry is a run of its own in a temporary file.
    for (uint64_t budget : {uint64_t{24} << 20, uint64_t{1}}) {
      auto scan = Scan(**b, rev, budget);
      ASSERT_TRUE(scan);
      EXPECT_EQ(Drain(*scan), want) << name << " budget " << budget;
    }
  }
}

TEST(Mvcc, DiffOfSnapshots) {
  auto a = Backend::Open(Fixture("snapA.db"));
  auto b = Backend::Open(Fixture("snapB.db"));
  ASSERT_TRUE(a && b);
  const size_t size_a = Drain(*Scan(**a, 10)).size(), size_b = Drain(*Scan(**b, 59)).size();
  size_t added = 0, removed = 0, changed = 0, same = 0;
  DiffVisitor v{[&](const LiveEntry&) -> Result<void> {
                  added++;
                  return {};
                },
                [&](const LiveEntry&) -> Result<void> {
                  removed++;
                  return {};
                },
                [&](const LiveEntry&, const LiveEntry&) -> Result<void> {
                  changed++;
                  return {};
                },
                [&] { same++; }};
  ASSERT_TRUE(Diff(*Scan(**a, 10), *Scan(**b, 59), v));
  EXPECT_EQ(same + changed + removed, size_a);
  EXPECT_EQ(same + changed + added, size_b);
  EXPECT_GT(added + removed + changed, 0u);
  size_t self_changes = 0;
  DiffVisitor none{[&](const LiveEntry&) -> Result<void> {
                     self_changes++;
                     return {};
                   },
                   [&](const LiveEntry&) -> Result<void> {
                     self_changes++;
                     return {};
                   },
                   [&](const LiveEntry&, const LiveEntry&) -> Result<void> {
                     self_changes++;
                     return {};
                   },
                   [] {}};
  ASSERT_TRUE(Diff(*Scan(**a, 10), *Scan(**a, 10, 1), none));
  EXPECT_EQ(self_changes, 0u);
}

// status tells etcd's HashKV from its own pass when the file allows (a
// finished compaction, or none): it must be the second pass's answer.
// snapB's compaction at 37 leaves records that hashKV skips inside a leaf;
// snapA's key bucket is inline (the second pass, cheap there, answers).
TEST(Status, HashKvFromThePassEqualsTheSecondPass) {
  for (const auto& [name, from_pass] : {std::pair{"snapA.db", false}, {"snapB.db", true}}) {
    auto b = Backend::Open(Fixture(name));
    ASSERT_TRUE(b);
    auto st = ComputeStatus(**b, {.with_hash_kv = true});
    ASSERT_TRUE(st) << st.error().ToString();
    auto h = ComputeHashKv(**b, 0);
    ASSERT_TRUE(h) << h.error().ToString();
    ASSERT_EQ(st->hash_kv.has_value(), from_pass) << name;
    if (!from_pass) continue;
    EXPECT_EQ(st->hash_kv->hash, h->hash) << name;
    EXPECT_EQ(st->hash_kv->revision, h->revision) << name;
    EXPECT_EQ(st->hash_kv->compact_revision, h->compact_revision) << name;
  }
}

// Past its memory budget the pass keeps no fingerprints: the live key count is
// given up, hashKV is left to ComputeHashKv (which counts the live keys
// too), and everything else is as without the limit.
TEST(Status, PastTheRecordBudgetGivesTheCountUpAndNothingElse) {
  auto b = Backend::Open(Fixture("snapB.db"));
  ASSERT_TRUE(b);
  auto whole = ComputeStatus(**b, {.with_hash_kv = true});
  auto capped = ComputeStatus(**b, {.with_hash_kv = true, .memory_budget = 4096});
  ASSERT_TRUE(whole && capped);
  ASSERT_TRUE(whole->live_keys);
  EXPECT_FALSE(capped->live_keys);
  EXPECT_FALSE(capped->hash_kv);
  EXPECT_EQ(capped->hash, whole->hash);
  EXPECT_EQ(capped->revision, whole->revision);
  EXPECT_EQ(capped->total_key, whole->total_key);
  EXPECT_EQ(capped->free_pages, whole->free_pages);
  auto h = ComputeHashKv(**b, 0);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->live_keys, *whole->live_keys);
  EXPECT_EQ(h->hash, whole->hash_kv->hash);
}

// The walk runs on a thread of its own: visits still come in key order, on
// the caller's thread, and a visitor's error stops the walk and is returned.
TEST(Mvcc, DiffVisitsInKeyOrderAndStopsAtAVisitorsError) {
  auto a = Backend::Open(Fixture("snapA.db"));
  auto b = Backend::Open(Fixture("snapB.db"));
  ASSERT_TRUE(a && b);
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<std::string> keys;
  bool on_caller = true;
  auto note = [&](const LiveEntry& e) -> Result<void> {
    on_caller = on_caller && std::this_thread::get_id() == caller;
    keys.emplace_back(e.key);
    return {};
  };
  DiffVisitor all{note, note, [&](const LiveEntry&, const LiveEntry& e) { return note(e); }, [] {}};
  ASSERT_TRUE(Diff(*Scan(**a, 10), *Scan(**b, 59), all));
  ASSERT_GT(keys.size(), 1u);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_TRUE(on_caller);

  size_t visits = 0;
  auto fail = [&](const LiveEntry&) -> Result<void> {
    visits++;
    return MakeError(Code::kIo, "stdout", "write failed");
  };
  DiffVisitor failing{fail, fail, [&](const LiveEntry&, const LiveEntry& e) { return fail(e); },
                      [] {}};
  auto r = Diff(*Scan(**a, 10), *Scan(**b, 59), failing);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().ToString().find("write failed"), std::string::npos) << r.error().ToString();
  EXPECT_EQ(visits, 1u);
}

TEST(Verify, SoundAndDamaged) {
  auto ok = Verify(Fixture("snapB.db"), {});
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->ok()) << (ok->faults.empty() ? "" : ok->faults[0].what);
  EXPECT_TRUE(ok->trailer_checked);

  std::string bytes = ReadFile(Fixture("snapB.db"));
  bytes[bytes.size() - 1] ^= 1;
  TempCopy bad_trailer(bytes);
  auto r = Verify(bad_trailer.path(), {});
  ASSERT_TRUE(r);
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->faults[0].check, "trailer");
  EXPECT_NE(r->faults[0].what.find("SHA-256 mismatch"), std::string::npos);

  VerifyOptions skip;
  skip.skip_hash_check = true;
  auto skipped = Verify(bad_trailer.path(), skip);
  ASSERT_TRUE(skipped);
  EXPECT_TRUE(skipped->ok());

  // A raw db (no trailer) needs --skip-hash-check.
  TempCopy raw(ReadFile(Fixture("restore-r1/db")));
  auto no_trailer = Verify(raw.path(), {});
  ASSERT_TRUE(no_trailer);
  ASSERT_FALSE(no_trailer->ok());
  EXPECT_NE(no_trailer->faults[0].what.find("--skip-hash-check"), std::string::npos);
  auto raw_ok = Verify(raw.path(), skip);
  ASSERT_TRUE(raw_ok);
  EXPECT_TRUE(raw_ok->ok()) << (raw_ok->faults.empty() ? "" : raw_ok->faults[0].what);
}

TEST(Verify, SchemaFaultsAreNamed) {
  // Change the mod_revision of "/a/b/c" (revision 5) in snapA, whose `key`
  // bucket is inline in the root leaf (page 3): 5 -> 6 breaks
  // "mod_revision == revision".
  std::string bytes = ReadFile(Fixture("snapA.db"));
  const std::string rec = Unhex(
      "0000000000000005"
      "5f"
      "0000000000000000");
  size_t at = bytes.find(rec, 3 * 4096);
  ASSERT_NE(at, std::string::npos);
  // value follows the key; its mod_revision field is tag 0x18.
  size_t mod = bytes.find('\x18', at + rec.size());
  ASSERT_NE(mod, std::string::npos);
  ASSERT_EQ(bytes[mod + 1], 5);
  bytes[mod + 1] = 6;
  TempCopy bad(bytes);
  VerifyOptions skip;
  skip.skip_hash_check = true;
  auto r = Verify(bad.path(), skip);
  ASSERT_TRUE(r);
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->faults[0].check, "schema");
  EXPECT_NE(r->faults[0].what.find("mod_revision"), std::string::npos) << r->faults[0].what;
}

}  // namespace
}  // namespace cpr::etcd
