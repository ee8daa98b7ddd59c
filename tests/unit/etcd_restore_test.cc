// Restore pieces against etcdctl 3.4's own output (etcd-formats.md §5, and
// the restore-r1 / restore-m1 fixtures it made): IDs, WAL records, .snap
// files byte for byte; and a restore of snapA whose db carries the same
// status hash as etcdctl's restored db.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "bolt/check.h"
#include "bolt/cursor.h"
#include "bolt/page_index.h"
#include "bolt/writer.h"
#include "etcd/membership.h"
#include "etcd/restore.h"
#include "etcd/snap_file.h"
#include "etcd/status.h"
#include "etcd/wal.h"
#include "util/protowire.h"
#include "util/range_copier.h"

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

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cpr-restore-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Membership, IdsFromFormatsDoc) {
  // §5.2 table.
  EXPECT_EQ(MemberIdFor({"http://127.0.0.1:24480"}, "tok-new"), 0x425412a6cee6e051ULL);
  EXPECT_EQ(ClusterIdFor({0x425412a6cee6e051ULL}), 0xa23c2f59b5460050ULL);
  auto def = ComputeMembership("default=http://localhost:2380", "etcd-cluster", "default",
                               "http://localhost:2380");
  ASSERT_TRUE(def) << def.error().ToString();
  EXPECT_EQ(def->me().id, 0x8e9e05c52164694dULL);
  EXPECT_EQ(def->cluster_id, 0xcdf818194e3a8c32ULL);
  auto three = ComputeMembership(
      "m1=http://127.0.0.1:24581,m2=http://127.0.0.1:24583,m3=http://127.0.0.1:24585", "tok3", "m2",
      "http://127.0.0.1:24583");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->members[0].id, 0x15f9e8d7070ece37ULL);
  EXPECT_EQ(three->members[1].id, 0x95b331c2f0e4e123ULL);
  EXPECT_EQ(three->members[2].id, 0xf6c40eb1f192f491ULL);
  EXPECT_EQ(three->cluster_id, 0xe8a42b7160f3ddd2ULL);
  EXPECT_EQ(three->me().name, "m2");
  // Two URLs for one member, sorted before hashing.
  auto multi = ComputeMembership(
      "a=http://127.0.0.1:24702,a=http://127.0.0.1:24701,b=http://127.0.0.1:24703", "T", "a",
      "http://127.0.0.1:24701,http://127.0.0.1:24702");
  ASSERT_TRUE(multi);
  EXPECT_EQ(multi->cluster_id, 0x65a75f66c5f39bd7ULL);
  EXPECT_EQ(MemberIdFor({"http://127.0.0.1:24703"}, "T"), 0x30bffc9103d823aULL);
}

TEST(Membership, RefusesBadFlags) {
  struct Case {
    std::string cluster, name, urls, want;
  };
  for (const Case& c : std::vector<Case>{
           {"a=http://h:1", "b", "http://h:1", "couldn't find local name"},
           {"a=http://h:1,b=http://h:1", "a", "http://h:1", "duplicate url"},
           {"a=h:1", "a", "h:1", "no scheme"},
           {"a=http://h:1/path", "a", "http://h:1/path", "only scheme://host:port"},
           {"a=ftp://h:1", "a", "ftp://h:1", "scheme must be"},
           {"a=http://h:1", "a", "http://h:2", "does not match"},
           {"a=http://h:99999", "a", "http://h:99999", "port"},
           {"nonsense", "a", "http://h:1", "is not NAME=URL"},
       }) {
    auto m = ComputeMembership(c.cluster, "t", c.name, c.urls);
    ASSERT_FALSE(m) << c.cluster;
    EXPECT_NE(m.error().ToString().find(c.want), std::string::npos) << m.error().ToString();
    EXPECT_EQ(m.error().code, Code::kInvalidArgument);
  }
}

TEST(Membership, GoJsonEscaping) {
  // §5.6.4, the odd-character name that was checked against etcdctl.
  EXPECT_EQ(GoJsonString("a<b>&\"c\\d \xc3\xa9"), "\"a\\u003cb\\u003e\\u0026\\\"c\\\\d \xc3\xa9\"");
  EXPECT_EQ(GoJsonString(std::string("\x01\n", 2)), "\"\\u0001\\n\"");
  EXPECT_EQ(GoJsonString("\xe2\x80\xa8"), "\"\\u2028\"");
  EXPECT_EQ(GoJsonString("\xff"), "\"\\ufffd\"");
}

TEST(Wal, ByteIdenticalToEtcdctl) {
  auto r1 =
      ComputeMembership("r1=http://127.0.0.1:24480", "tok-new", "r1", "http://127.0.0.1:24480");
  ASSERT_TRUE(r1);
  EXPECT_EQ(RestoreWalRecords(*r1), ReadFile(Fixture("restore-r1/wal-first-256-bytes.bin")));
  auto m1 = ComputeMembership(
      "m1=http://127.0.0.1:24581,m2=http://127.0.0.1:24583,m3=http://127.0.0.1:24585", "tok3", "m1",
      "http://127.0.0.1:24581");
  ASSERT_TRUE(m1);
  EXPECT_EQ(RestoreWalRecords(*m1), ReadFile(Fixture("restore-m1/wal-first-496-bytes.bin")));
  auto records = DecodeWal(RestoreWalRecords(*m1));
  ASSERT_TRUE(records) << records.error().ToString();
  EXPECT_EQ(records->size(), 8u);  // crc, metadata, snapshot, 3 entries, state, snapshot
}

TEST(Wal, DecoderCatchesBrokenChain) {
  auto r1 =
      ComputeMembership("r1=http://127.0.0.1:24480", "tok-new", "r1", "http://127.0.0.1:24480");
  std::string wal = RestoreWalRecords(*r1);
  wal[100] ^= 1;  // inside the first entry's data
  auto records = DecodeWal(wal);
  ASSERT_FALSE(records);
  EXPECT_NE(records.error().what.find("CRC mismatch"), std::string::npos);
}

// A follower's log past its own commit index (entries the lost quorum may
// have committed): a HardState committing them is appended on the chain.
TEST(Wal, CommitLoggedEntriesCommitsTheTail) {
  auto m1 = ComputeMembership(
      "m1=http://127.0.0.1:24581,m2=http://127.0.0.1:24583,m3=http://127.0.0.1:24585", "tok3", "m1",
      "http://127.0.0.1:24581");
  ASSERT_TRUE(m1);
  // The restore's records (commit 3), then entries 4 and 5 at term 2.
  const std::string head = RestoreWalRecords(*m1);
  auto records = DecodeWal(head);
  ASSERT_TRUE(records);
  WalEncoder w(records->back().crc);
  for (uint64_t i : {4, 5}) {
    std::string entry;
    AppendVarintField(entry, 2, 2);
    AppendVarintField(entry, 3, i);
    w.Record(WalRecordType::kEntry, entry);
  }
  const auto dir = std::filesystem::temp_directory_path() / ("cpr-wal-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string seg = (dir / kFirstWalSegment).string();
  std::string file = head + w.bytes();
  file.resize(1 << 16, '\0');  // preallocated, as etcd's segments are
  std::ofstream(seg, std::ios::binary) << file;
  auto added = CommitLoggedEntries(dir.string());
  ASSERT_TRUE(added) << added.error().ToString();
  EXPECT_EQ(*added, 2u);
  std::ifstream in(seg, std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string tail;
  auto all = DecodeWalPrefix(after, &tail);
  EXPECT_EQ(tail, "");  // the chain holds across the appended record
  ASSERT_EQ(all.size(), records->size() + 3);
  EXPECT_EQ(all.back().type, static_cast<int64_t>(WalRecordType::kState));
  WireReader r(all.back().data);
  WireField f;
  uint64_t term = 0, commit = 0;
  while (r.Next(f)) {
    if (f.number == 1) term = f.varint;
    if (f.number == 3) commit = f.varint;
  }
  EXPECT_EQ(term, 2u);
  EXPECT_EQ(commit, 5u);
  // Committed already: nothing more is written.
  auto again = CommitLoggedEntries(dir.string());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u);
  std::filesystem::remove_all(dir);
}

// A crash cuts the last record: the records before it are kept (survey reads
// a torn WAL as etcd does before repairing it), and the cut is named.
TEST(Wal, PrefixKeepsWhatPrecedesATornTail) {
  auto m1 = ComputeMembership(
      "m1=http://127.0.0.1:24581,m2=http://127.0.0.1:24583,m3=http://127.0.0.1:24585", "tok3", "m1",
      "http://127.0.0.1:24581");
  ASSERT_TRUE(m1);
  const std::string wal = RestoreWalRecords(*m1);
  std::string tail;
  EXPECT_EQ(DecodeWalPrefix(wal, &tail).size(), 8u);
  EXPECT_EQ(tail, "");
  const std::string torn = wal.substr(0, wal.size() - 5);
  EXPECT_EQ(DecodeWalPrefix(torn, &tail).size(), 7u);
  EXPECT_NE(tail.find("runs past the end"), std::string::npos) << tail;
  EXPECT_FALSE(DecodeWal(torn));
}

TEST(SnapFile, ByteIdenticalToEtcdctl) {
  auto r1 =
      ComputeMembership("r1=http://127.0.0.1:24480", "tok-new", "r1", "http://127.0.0.1:24480");
  EXPECT_EQ(RestoreSnapFileName(*r1), "0000000000000001-0000000000000001.snap");
  EXPECT_EQ(RestoreSnapFile(*r1),
            ReadFile(Fixture("restore-r1/0000000000000001-0000000000000001.snap")));
  auto m1 = ComputeMembership(
      "m1=http://127.0.0.1:24581,m2=http://127.0.0.1:24583,m3=http://127.0.0.1:24585", "tok3", "m1",
      "http://127.0.0.1:24581");
  EXPECT_EQ(RestoreSnapFile(*m1),
            ReadFile(Fixture("restore-m1/0000000000000001-0000000000000003.snap")));
}

TEST(BoltWriter, RoundTripsThroughTheReader) {
  TempDir dir;
  const std::string path = dir.path() + "/db";
  auto w = bolt::Writer::Create(path, 4096);
  ASSERT_TRUE(w);
  std::vector<std::pair<std::string, std::string>> big;
  for (int i = 0; i < 20000; i++)
    big.emplace_back(fmt::format("k{:08d}", i), std::string(i % 97 == 0 ? 9000 : i % 50, 'v'));
  ASSERT_TRUE((*w)->BeginBucket("a-small"));
  ASSERT_TRUE((*w)->Put("x", "1"));
  ASSERT_TRUE((*w)->EndBucket());
  ASSERT_TRUE((*w)->BeginBucket("b-big"));
  for (const auto& [k, v] : big) ASSERT_TRUE((*w)->Put(k, v));
  ASSERT_TRUE((*w)->EndBucket());
  ASSERT_TRUE((*w)->BeginBucket("c-empty"));
  ASSERT_TRUE((*w)->EndBucket());
  ASSERT_TRUE((*w)->Finish());
  EXPECT_EQ(std::filesystem::file_size(path), (*w)->pages() * 4096);

  auto r = bolt::Reader::Open(path);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(bolt::Check(**r).empty());
  EXPECT_EQ((*r)->meta().freelist, 2u);
  auto small = (*r)->Bucket("a-small");
  ASSERT_TRUE(small && small->has_value());
  EXPECT_TRUE((*small)->is_inline());
  auto b = (*r)->Bucket("b-big");
  bolt::Cursor c(**r, **b);
  size_t i = 0;
  for (bool ok = *c.First(); ok; ok = *c.Next(), i++) {
    ASSERT_EQ(c.element().key, big[i].first);
    ASSERT_EQ(c.element().value, big[i].second);
  }
  EXPECT_EQ(i, big.size());
}

TEST(BoltWriter, RefusesUnsortedInput) {
  TempDir dir;
  auto w = bolt::Writer::Create(dir.path() + "/db", 4096);
  ASSERT_TRUE((*w)->BeginBucket("b"));
  ASSERT_TRUE((*w)->Put("2", ""));
  EXPECT_FALSE((*w)->Put("1", ""));
}

RestoreConfig R1Config(const std::string& data_dir);

// Every (key, value) of a bucket, in order.
std::vector<std::pair<std::string, std::string>> Dump(const bolt::Reader& r, Bytes bucket) {
  std::vector<std::pair<std::string, std::string>> out;
  auto ref = r.Bucket(bucket);
  if (!ref || !ref->has_value()) return out;
  bolt::Cursor c(r, **ref);
  for (auto ok = c.First(); ok && *ok; ok = c.Next())
    out.emplace_back(c.element().key, c.element().value);
  return out;
}

TEST(BoltWriter, AdoptsLeavesInPlaceInAnyOrder) {
  TempDir dir;
  // A source with a multi-level tree (and overflow leaves).
  const std::string src = dir.path() + "/src";
  std::vector<std::pair<std::string, std::string>> kv;
  for (int i = 0; i < 30000; i++)
    kv.emplace_back(fmt::format("k{:08d}", i), std::string(i % 500 == 0 ? 7000 : i % 40, 'v'));
  {
    auto w = bolt::Writer::Create(src, 4096);
    ASSERT_TRUE((*w)->BeginBucket("b"));
    for (const auto& [k, v] : kv) ASSERT_TRUE((*w)->Put(k, v));
    ASSERT_TRUE((*w)->EndBucket());
    ASSERT_TRUE((*w)->Finish());
  }
  auto source = bolt::Reader::Open(src);
  ASSERT_TRUE(source);
  const bolt::Reader& r = **source;
  auto index = bolt::PageIndex::Build(r, [](const bolt::PageView&) {});
  ASSERT_TRUE(index);
  std::vector<bolt::Pgid> leaves;
  std::vector<std::string> faults;
  index->Leaves((*r.Bucket("b"))->root, leaves, faults);
  ASSERT_TRUE(faults.empty());
  ASSERT_GT(leaves.size(), 100u);

  // The copy: pages 2.. in place, leaves adopted in reverse key order,
  // one key Put after them.
  bolt::Writer::Options o;
  o.first_pgid = r.meta().pgid;
  o.freelist = false;
  const std::string out = dir.path() + "/out";
  auto w = bolt::Writer::Create(out, 4096, o);
  ASSERT_TRUE(w);
  RangeCopier copier(r.file(), (*w)->fd(), out);
  ASSERT_TRUE(copier.Copy(2 * 4096, (r.meta().pgid - 2) * 4096));
  ASSERT_TRUE((*w)->BeginBucket("b"));
  for (size_t i = leaves.size(); i-- > 0;) {
    auto page = r.Page(leaves[i]);
    ASSERT_TRUE(page);
    ASSERT_TRUE((*w)->AdoptLeaf(leaves[i], page->overflow(), page->Leaf(0)->key, i));
  }
  EXPECT_FALSE((*w)->AdoptLeaf(r.meta().pgid, 0, "x", 0)) << "a page the writer owns";
  ASSERT_TRUE((*w)->Put("zz-last", "after every adopted key"));
  ASSERT_TRUE((*w)->EndBucket());
  ASSERT_TRUE((*w)->Finish());

  auto back = bolt::Reader::Open(out);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ((*back)->meta().freelist, bolt::kNoFreelist);
  EXPECT_TRUE(bolt::Check(**back).empty());
  kv.emplace_back("zz-last", "after every adopted key");
  EXPECT_EQ(Dump(**back, "b"), kv);
}

TEST(PageIndex, PartsOnThreadsEqualOnePass) {
  // ~12 MB: several 2 MB chunks, so every part has pages and branches.
  TempDir dir;
  const std::string path = dir.path() + "/db";
  std::vector<std::pair<std::string, std::string>> kv;  // Put keeps views
  for (int i = 0; i < 120000; i++)
    kv.emplace_back(fmt::format("k{:08d}", i), std::string(i % 1000 == 0 ? 9000 : 60, 'v'));
  {
    auto w = bolt::Writer::Create(path, 4096);
    ASSERT_TRUE((*w)->BeginBucket("b"));
    for (const auto& [k, v] : kv) ASSERT_TRUE((*w)->Put(k, v));
    ASSERT_TRUE((*w)->EndBucket());
    ASSERT_TRUE((*w)->Finish());
  }
  auto r = bolt::Reader::Open(path);
  ASSERT_TRUE(r);
  const bolt::Pgid root = (*(*r)->Bucket("b"))->root;
  auto describe = [&](bolt::PageIndex& index) {
    std::vector<bolt::Pgid> leaves;
    std::vector<std::string> faults;
    index.Leaves(root, leaves, faults);
    EXPECT_TRUE(faults.empty());
    return leaves;
  };
  std::vector<bolt::Pgid> seen_once;
  auto one =
      bolt::PageIndex::Build(**r, [&](const bolt::PageView& p) { seen_once.push_back(p.id()); });
  ASSERT_TRUE(one);
  const auto want = describe(*one);
  ASSERT_GT(want.size(), 1000u);
  for (int parts : {2, 3}) {
    std::mutex mu;
    std::vector<bolt::Pgid> seen;
    std::vector<int> part_of_page((*r)->meta().pgid, -1);
    auto many = bolt::PageIndex::BuildInParts(**r, parts, [&](const bolt::PageView& p, int part) {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(p.id());
      part_of_page[p.id()] = part;
    });
    ASSERT_TRUE(many);
    EXPECT_EQ(describe(*many), want) << parts << " parts";
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, seen_once) << parts << " parts";
    std::set<int> used;
    for (bolt::Pgid id : seen) {
      EXPECT_EQ(many->part(id), part_of_page[id]) << id;
      used.insert(part_of_page[id]);
    }
    EXPECT_EQ(used.size(), static_cast<size_t>(parts)) << "every part saw leaves";
  }
}

TEST(BoltWriter, RefusesAdoptedLeavesOutOfKeyOrder) {
  TempDir dir;
  bolt::Writer::Options o;
  o.first_pgid = 10;
  auto w = bolt::Writer::Create(dir.path() + "/db", 4096, o);
  ASSERT_TRUE((*w)->BeginBucket("b"));
  ASSERT_TRUE((*w)->AdoptLeaf(3, 0, "b", 0));
  ASSERT_TRUE((*w)->AdoptLeaf(4, 0, "a", 1));  // rank 1, yet its first key sorts first
  EXPECT_FALSE((*w)->EndBucket());
}

TEST(RangeCopier, KernelAndBufferedCopiesAgree) {
  TempDir dir;
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); i++) bytes[i] = static_cast<char>(i * 131 % 251);
  const std::string src = dir.path() + "/src";
  std::ofstream(src, std::ios::binary) << bytes;
  auto file = MappedFile::Open(src);
  ASSERT_TRUE(file);
  auto memory = MappedFile::FromBytes(bytes, "in memory");
  std::vector<std::string> outs;
  for (int mode = 0; mode < 3; mode++) {
    if (mode == 1) ::setenv("CPR_NO_COPY_FILE_RANGE", "1", 1);
    const std::string out = dir.path() + "/out" + std::to_string(mode);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    RangeCopier copier(mode == 2 ? *memory : **file, fd, out);
    EXPECT_EQ(copier.in_kernel(), mode == 0);
    ASSERT_TRUE(copier.Copy(4096, 8192));
    ASSERT_TRUE(copier.Copy(1 << 20, 2 << 20));
    EXPECT_FALSE(copier.Copy(3 << 20, 1)) << "past the end";
    copier.StartWriteBack();
    ::close(fd);
    ::unsetenv("CPR_NO_COPY_FILE_RANGE");
    outs.push_back(ReadFile(out));
  }
  std::string want(3 << 20, '\0');
  want.replace(4096, 8192, bytes, 4096, 8192);
  want.replace(1 << 20, 2 << 20, bytes, 1 << 20, 2 << 20);
  for (const auto& got : outs) EXPECT_TRUE(got == want);
}

TEST(Restore, SnapBKeepsEveryRecordAndVerifies) {
  // snapB has branch pages and overflow leaves: the adopted-leaf path.
  TempDir dir;
  RestoreConfig c = R1Config(dir.path() + "/r1");
  c.source = Fixture("snapB.db");
  auto plan = PlanRestore(c);
  ASSERT_TRUE(plan) << plan.error().ToString();
  auto r = RunRestore(c, *plan);
  ASSERT_TRUE(r) << r.error().ToString();
  auto src = bolt::Reader::Open(c.source);
  auto out = bolt::Reader::Open(dir.path() + "/r1/member/snap/db");
  ASSERT_TRUE(src && out);
  EXPECT_TRUE(bolt::Check(**out).empty());
  for (std::string_view b : {"key", "lease", "members", "cluster", "auth", "authUsers"})
    EXPECT_EQ(Dump(**out, b), Dump(**src, b)) << b;
  auto meta = Dump(**out, "meta");
  ASSERT_FALSE(meta.empty());
}

RestoreConfig R1Config(const std::string& data_dir) {
  RestoreConfig c;
  c.source = Fixture("snapA.db");
  c.name = "r1";
  c.initial_cluster = "r1=http://127.0.0.1:24480";
  c.token = "tok-new";
  c.advertise_peer_urls = "http://127.0.0.1:24480";
  c.data_dir = data_dir;
  return c;
}

TEST(Restore, SnapAAsEtcdctlRestoresIt) {
  TempDir dir;
  const RestoreConfig c = R1Config(dir.path() + "/r1");
  auto plan = PlanRestore(c);
  ASSERT_TRUE(plan) << plan.error().ToString();
  auto r = RunRestore(c, *plan);
  ASSERT_TRUE(r) << r.error().ToString();
  const std::string member = dir.path() + "/r1/member";
  EXPECT_EQ(ReadFile(member + "/snap/0000000000000001-0000000000000001.snap"),
            ReadFile(Fixture("restore-r1/0000000000000001-0000000000000001.snap")));
  const std::string wal = ReadFile(member + "/wal/0000000000000000-0000000000000000.wal");
  EXPECT_EQ(wal.size(), kWalSegmentBytes);
  EXPECT_EQ(wal.substr(0, 256), ReadFile(Fixture("restore-r1/wal-first-256-bytes.bin")));
  // §5.4: the status hash equals the etcdctl-restored db's (1566000381).
  auto backend = Backend::Open(member + "/snap/db");
  ASSERT_TRUE(backend);
  auto s = ComputeStatus(**backend);
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(s->hash, 1566000381u);
  EXPECT_EQ(s->consistent_index, 1u);
  EXPECT_EQ(std::filesystem::status(member).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  // No staging left behind.
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename(), "r1");
}

TEST(Restore, RefusesExistingMemberAndMovesItAside) {
  TempDir dir;
  const RestoreConfig c = R1Config(dir.path() + "/r1");
  ASSERT_TRUE(RunRestore(c, *PlanRestore(c)));
  auto again = PlanRestore(c);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().ToString().find("--move-aside"), std::string::npos);
  RestoreConfig move = c;
  move.move_aside = true;
  auto plan = PlanRestore(move);
  ASSERT_TRUE(plan) << plan.error().ToString();
  auto r = RunRestore(move, *plan);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(std::filesystem::exists(r->moved_member_to + "/snap/db"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/r1/member/snap/db"));
}

TEST(Restore, CorruptSourceWritesNothing) {
  TempDir dir;
  std::string bytes = ReadFile(Fixture("snapB.db"));
  bytes[bytes.size() - 1] ^= 1;
  const std::string bad = dir.path() + "/bad.db";
  std::ofstream(bad, std::ios::binary) << bytes;
  RestoreConfig c = R1Config(dir.path() + "/out/r1");
  c.source = bad;
  auto plan = PlanRestore(c);
  ASSERT_TRUE(plan) << plan.error().ToString();
  auto r = RunRestore(c, *plan);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().ToString().find("SHA-256 mismatch"), std::string::npos)
      << r.error().ToString();
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/out/r1"));
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/out"))
    ADD_FAILURE() << "left behind: " << e.path();
}

TEST(Restore, BumpAndMarkCompacted) {
  TempDir dir;
  RestoreConfig c = R1Config(dir.path() + "/r1");
  c.bump_revision = 1000;
  c.mark_compacted = true;
  auto plan = PlanRestore(c);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->new_revision, 1010);
  ASSERT_TRUE(RunRestore(c, *plan));
  auto backend = Backend::Open(dir.path() + "/r1/member/snap/db");
  // Compacted at 1010: no bump tombstone, only each live key's newest record
  // (the newest of them is at 10); etcd's store revision is the compaction's.
  EXPECT_EQ((*backend)->LatestRevision()->main, 10);
  EXPECT_EQ((*backend)->Meta()->finished_compact, 1010);
  EXPECT_EQ((*backend)->Meta()->scheduled_compact, 1010);
  RestoreConfig bad = R1Config(dir.path() + "/r2");
  bad.mark_compacted = true;
  EXPECT_FALSE(PlanRestore(bad));
}

}  // namespace
}  // namespace cpr::etcd
