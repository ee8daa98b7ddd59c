// bolt reader, cursor and check on real etcd snapshots (snapA: all buckets
// inline; snapB: branch pages, overflow pages), and on copies damaged one
// byte at a time: every fault must be reported with its page, never crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "bolt/check.h"
#include "bolt/cursor.h"
#include "bolt/page_index.h"
#include "bolt/reader.h"

namespace cpr::bolt {
namespace {

// Fixture bytes, read once and kept for the whole run: a Reader over bytes
// borrows them (MappedFile::FromBytes).
const std::string& ReadFixture(const std::string& name) {
  static std::map<std::string, std::string> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  std::ifstream in(std::string(CPR_FIXTURES) + "/etcd-formats/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return cache[name] = s.str();
}

// REQUIRES: `bytes` outlives the reader.
Result<std::unique_ptr<Reader>> OpenBytes(const std::string& bytes) {
  return Reader::Open(MappedFile::FromBytes(bytes, "test.db"), Reader::Options{});
}

// Sets the u64 at `offset` and fixes neither checksum nor trailer.
void SetLe64(std::string& b, size_t offset, uint64_t v) { StoreLe64(b.data() + offset, v); }

TEST(Meta, ChecksumOfSnapA) {
  const std::string a = ReadFixture("snapA.db");
  Meta m = Meta::Decode(a);
  EXPECT_EQ(m.checksum, 0x544d23f7487b2a69ULL);  // etcd-formats.md §1.4.2
  EXPECT_EQ(Meta::ComputeChecksum(a), m.checksum);
  EXPECT_EQ(m.txid, 12u);
  EXPECT_EQ(m.pgid, 5u);
  EXPECT_EQ(m.freelist, kNoFreelist);
}

TEST(Meta, EncodeRoundTrips) {
  const std::string a = ReadFixture("snapA.db");
  Meta m = Meta::Decode(a);
  std::string page(4096, '\0');
  m.EncodeInto(page.data(), 0);
  EXPECT_EQ(page.substr(0, 80), a.substr(0, 80));
}

TEST(Reader, OpensSnapAAndListsBuckets) {
  auto r = OpenBytes(ReadFixture("snapA.db"));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ((*r)->meta_page(), 0);
  std::vector<std::string> names;
  Cursor c(**r, (*r)->root());
  for (bool ok = *c.First(); ok; ok = *c.Next()) names.emplace_back(c.element().key);
  EXPECT_EQ(names,
            (std::vector<std::string>{"alarm", "auth", "authRoles", "authUsers", "cluster", "key",
                                      "lease", "members", "members_removed", "meta"}));
  auto meta = (*r)->Bucket("meta");
  ASSERT_TRUE(meta && meta->has_value());
  EXPECT_TRUE((*meta)->is_inline());
  auto none = (*r)->Bucket("nope");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TEST(Reader, FallsBackToMeta1WhenMeta0IsBad) {
  std::string a = ReadFixture("snapA.db");
  a[72] ^= 1;  // meta0 checksum
  auto r = OpenBytes(a);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ((*r)->meta_page(), 1);
  EXPECT_NE((*r)->meta_fault().find("checksum error"), std::string::npos);
}

TEST(Reader, ZeroChecksumIsAccepted) {
  std::string a = ReadFixture("snapA.db");
  SetLe64(a, 72, 0);
  SetLe64(a, 4096 + 72, 0);
  EXPECT_TRUE(OpenBytes(a));  // etcd-formats.md §1.4.2 rule 3
}

TEST(Reader, RefusesBadFilesWithReasons) {
  const std::string a = ReadFixture("snapA.db");
  struct Case {
    std::string name, bytes, want;
  };
  std::string both = a;
  both[20] ^= 1;         // meta0 version
  both[4096 + 16] ^= 1;  // meta1 magic
  std::vector<Case> cases = {
      {"empty", "", "shorter than one page"},
      {"text", std::string(8192, 'x'), "invalid database"},
      {"truncated", a.substr(0, 3 * 4096), "high-water mark"},
      {"both metas", both, "both meta pages are invalid"},
  };
  for (const auto& c : cases) {
    auto r = OpenBytes(c.bytes);
    ASSERT_FALSE(r) << c.name;
    EXPECT_NE(r.error().ToString().find(c.want), std::string::npos)
        << c.name << ": " << r.error().ToString();
  }
}

TEST(Check, SoundSnapshotsHaveNoFaults) {
  for (const char* name : {"snapA.db", "snapB.db"}) {
    auto r = OpenBytes(ReadFixture(name));
    ASSERT_TRUE(r) << name;
    EXPECT_TRUE(Check(**r).empty()) << name;
  }
}

// Finds the first leaf page id reachable from the `key` bucket of snapB.
Pgid FirstKeyLeaf(const Reader& r) {
  auto key = r.Bucket("key");
  Cursor c(r, **key);
  EXPECT_TRUE(*c.First());
  return c.leaf().id();
}

TEST(Check, DamagedLeafIsNamed) {
  std::string b = ReadFixture("snapB.db");
  Pgid leaf;
  {
    auto r = OpenBytes(b);
    ASSERT_TRUE(r);
    leaf = FirstKeyLeaf(**r);
  }
  // Element 0's ksize made huge: its key runs past the page.
  StoreLe32(b.data() + leaf * 4096 + 16 + 8, 0x7fffffff);
  auto r = OpenBytes(b);
  ASSERT_TRUE(r);
  auto faults = Check(**r);
  ASSERT_FALSE(faults.empty());
  EXPECT_EQ(faults[0].page, leaf);
  EXPECT_NE(faults[0].what.find("past page end"), std::string::npos) << faults[0].ToString();
}

TEST(Check, CycleIsReportedNotFollowed) {
  std::string b = ReadFixture("snapB.db");
  auto r0 = OpenBytes(b);
  ASSERT_TRUE(r0);
  auto key = (*r0)->Bucket("key");
  const Pgid root = (**key).root;
  auto page = (*r0)->Page(root);
  ASSERT_TRUE(page && page->is_branch());
  // Point the root branch's second child back at the root itself.
  StoreLe64(b.data() + root * 4096 + 16 + 16 + 8, root);
  auto r = OpenBytes(b);
  ASSERT_TRUE(r);
  auto faults = Check(**r);
  ASSERT_FALSE(faults.empty());
  bool named = false;
  for (const auto& f : faults) named |= f.page == root && f.what == "multiple references";
  EXPECT_TRUE(named) << faults[0].ToString();
  // The cursor must stop too (keys out of order or a revisited page).
  Cursor c(**r, **(*r)->Bucket("key"));
  Result<bool> step = c.First();
  size_t n = 0;
  while (step && *step && n < 1000000) {
    step = c.Next();
    n++;
  }
  EXPECT_FALSE(step.has_value());
}

TEST(Check, WrongPageTypeInTree) {
  std::string b = ReadFixture("snapB.db");
  Pgid leaf;
  {
    auto r = OpenBytes(b);
    leaf = FirstKeyLeaf(**r);
  }
  StoreLe16(b.data() + leaf * 4096 + 8, kFreelistPage);
  auto r = OpenBytes(b);
  auto faults = Check(**r);
  ASSERT_FALSE(faults.empty());
  EXPECT_EQ(faults[0].page, leaf);
  EXPECT_NE(faults[0].what.find("invalid type: freelist"), std::string::npos);
}

TEST(Check, EveryByteFlipTerminates) {
  // A flip in every 61st byte of snapB, one at a time: open, check and a full
  // cursor pass must all return (fault or not) without crashing.
  const std::string b = ReadFixture("snapB.db");
  for (size_t off = 0; off < b.size(); off += 61) {
    std::string d = b;
    d[off] ^= 0x5a;
    auto r = OpenBytes(d);
    if (!r) continue;
    (void)Check(**r, 10);
    auto key = (*r)->Bucket("key");
    if (!key || !key->has_value()) continue;
    Cursor c(**r, **key);
    for (auto s = c.First(); s && *s; s = c.Next()) {
    }
  }
}

TEST(Cursor, SeekFindsEveryKeyOfSnapB) {
  auto r = OpenBytes(ReadFixture("snapB.db"));
  auto key = (*r)->Bucket("key");
  std::vector<std::string> keys;
  Cursor c(**r, **key);
  for (bool ok = *c.First(); ok; ok = *c.Next()) keys.emplace_back(c.element().key);
  EXPECT_EQ(keys.size(), 1524u);
  for (size_t i = 0; i < keys.size(); i += 7) {
    Cursor s(**r, **key);
    ASSERT_TRUE(*s.Seek(keys[i]));
    EXPECT_EQ(s.element().key, keys[i]);
  }
  Cursor last(**r, **key);
  ASSERT_TRUE(*last.Last());
  EXPECT_EQ(last.element().key, keys.back());
  // Past the end.
  Cursor end(**r, **key);
  EXPECT_FALSE(*end.Seek(std::string(20, '\xff')));
}

// Every bucket's leaves, in key order, and the leaf pages on_leaf saw.
struct IndexView {
  std::map<std::string, std::vector<Pgid>> leaves;
  std::vector<Pgid> seen;
  bool operator==(const IndexView&) const = default;
};

IndexView Describe(const Reader& r, PageIndex& index, std::vector<Pgid> seen) {
  IndexView v;
  std::sort(seen.begin(), seen.end());
  v.seen = std::move(seen);
  for (const char* b : {"key", "lease", "meta", "members", "cluster", "alarm"}) {
    auto ref = r.Bucket(b);
    if (!ref || !ref->has_value() || (*ref)->is_inline()) continue;
    std::vector<std::string> faults;
    index.Leaves((*ref)->root, v.leaves[b], faults);
    EXPECT_TRUE(faults.empty()) << b;
  }
  return v;
}

TEST(PageIndexStream, EqualsTheFilePassWhateverTheChunks) {
  const std::string& b = ReadFixture("snapB.db");
  auto r = OpenBytes(b);
  ASSERT_TRUE(r);
  std::vector<Pgid> seen;
  auto built = PageIndex::Build(**r, [&](const PageView& p) { seen.push_back(p.id()); });
  ASSERT_TRUE(built);
  const IndexView want = Describe(**r, *built, seen);
  ASSERT_GT(want.leaves.at("key").size(), 3u);
  for (size_t chunk :
       {size_t{1}, size_t{100}, size_t{4096}, size_t{7000}, size_t{32768}, b.size()}) {
    std::vector<Pgid> streamed_seen;
    PageIndexStream stream([&](const PageView& p) { streamed_seen.push_back(p.id()); }, b.size());
    for (size_t at = 0; at < b.size(); at += chunk) stream.Push(Bytes(b).substr(at, chunk));
    auto streamed = stream.Finish(**r);
    ASSERT_TRUE(streamed);
    EXPECT_TRUE(Describe(**r, *streamed, streamed_seen) == want) << "chunks of " << chunk;
  }
  // A stream whose metas claim more than announced reads the file instead.
  PageIndexStream lying([](const PageView&) {}, 4096);
  lying.Push(b);
  auto fallback = lying.Finish(**r);
  ASSERT_TRUE(fallback);
  EXPECT_TRUE(Describe(**r, *fallback, want.seen).leaves == want.leaves);
}

}  // namespace
}  // namespace cpr::bolt
