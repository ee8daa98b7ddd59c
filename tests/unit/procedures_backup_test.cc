// The backup procedure end to end against an in-process fake etcd serving a
// real snapshot (tests/fixtures/etcd-formats/snapB.db): the files, their
// modes and manifest on success; nothing left behind when the stream is
// cut or etcd's SHA-256 does not match; --keep; the resources archive.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bolt/cursor.h"
#include "bolt/reader.h"
#include "client_fake_etcd.h"
#include "etcd/hashkv.h"
#include "procedures/backup.h"
#include "procedures/static_pod_resources.h"
#include "util/file_lock.h"

namespace cpr::procedures {
namespace {
namespace fs = std::filesystem;
using cpr::testing::FakeEtcd;
using cpr::testing::FakeEtcdOptions;

const std::string kSnapB = std::string(CPR_FIXTURES) + "/etcd-formats/snapB.db";

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

unsigned Mode(const fs::path& p) {
  struct stat st;
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// name -> content ("" for directories, "-> target" for symlinks)
std::map<std::string, std::string> ReadTarGz(const fs::path& p) {
  std::map<std::string, std::string> out;
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, p.c_str(), 1 << 16), ARCHIVE_OK);
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string content;
    if (archive_entry_filetype(e) == AE_IFLNK) {
      content = std::string("-> ") + archive_entry_symlink(e);
    } else {
      char buf[4096];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
        content.append(buf, static_cast<size_t>(n));
    }
    out[archive_entry_pathname(e)] = content;
  }
  archive_read_free(a);
  return out;
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("cpr-backup-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    // An OpenShift 4.3+ layout: two revisions of each; the newest must be taken.
    res_ = root_ / "static-pod-resources";
    for (const char* c : {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"}) {
      Write(res_ / (std::string(c) + "-pod-3") / "configmaps" / "config" / "x", "old");
      Write(res_ / (std::string(c) + "-pod-12") / "secrets" / "tls" / "tls.crt",
            std::string(c) + "12");
    }
    Write(res_ / "etcd-member" / "ca.crt", "member-ca");
    Write(res_ / "kube-apiserver-certs" / "x", "not taken");
    fs::create_directory_symlink("kube-apiserver-pod-12", res_ / "kube-apiserver-pod-12" / "self");
  }
  void TearDown() override { fs::remove_all(root_); }

  // A backup from a fake serving `fo` must fail as corrupt, its message
  // naming each of `words`, and leave no DIR behind (the run made it).
  void ExpectCorruptLeavingNothing(const FakeEtcdOptions& fo,
                                   const std::vector<std::string>& words) {
    FakeEtcd fake(fo);
    auto c = ClientFor(fake);
    const fs::path dir = root_ / "bk";
    auto r = Backup(*c, Options(dir), {}, nullptr);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Code::kCorrupt);
    for (const auto& w : words)
      EXPECT_NE(r.error().what.find(w), std::string::npos) << w << ": " << r.error().ToString();
    EXPECT_FALSE(fs::exists(dir)) << "the run created it, the run removes it";
  }

  std::unique_ptr<client::Client> ClientFor(const FakeEtcd& fake) {
    client::Config c;
    c.endpoints = *client::ParseEndpoints(fake.endpoint(), "--endpoints");
    c.command_timeout = std::chrono::seconds(3);
    return std::move(client::Client::Create(c)).value();
  }

  // A backup from a fake etcd that serves snapB.
  Result<BackupResult> BackupOfSnapB(const BackupOptions& o, const BackupObserver& obs = {},
                                     ProcedureReport* report = nullptr) {
    FakeEtcdOptions fo;
    fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
    FakeEtcd fake(fo);
    auto c = ClientFor(fake);
    return Backup(*c, o, obs, nullptr, report);
  }

  BackupOptions Options(const fs::path& dir) {
    BackupOptions o;
    o.dir = dir.string();
    o.resources = res_.string();
    return o;
  }

  fs::path root_, res_;
};

TEST_F(BackupTest, WritesAVerifiedPairAndManifest) {
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  FakeEtcd fake(fo);
  auto c = ClientFor(fake);
  const fs::path dir = root_ / "backups" / "new";
  std::vector<std::string> steps;  // each step the runner timed, in order
  uint64_t last_bytes = 0, last_total = 0;
  BackupObserver obs;
  obs.out = [&](const std::string& line) {
    if (line.find("] done in ") != std::string::npos)
      steps.push_back(line.substr(1, line.find(']') - 1));
  };
  obs.progress = [&](uint64_t b, uint64_t t) {
    EXPECT_GE(b, last_bytes);
    last_bytes = b;
    last_total = t;
  };
  auto r = Backup(*c, Options(dir), obs, nullptr);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(steps, (std::vector<std::string>{"choose-member", "prepare", "stream", "verify",
                                             "commit", "prune"}));
  EXPECT_EQ(last_bytes, fo.snapshot_db.size() + 32);
  EXPECT_EQ(last_total, fo.snapshot_db.size() + 32);

  const std::string s = r->stamp;
  EXPECT_EQ(Names(dir), (std::vector<std::string>{"backup_" + s + ".json", "snapshot_" + s + ".db",
                                                  "static_kuberesources_" + s + ".tar.gz"}));
  EXPECT_EQ(Mode(dir), 0700u);
  for (const auto& n : Names(dir)) EXPECT_EQ(Mode(dir / n), 0600u) << n;
  // The .db is exactly what `etcdctl snapshot save` writes: db + SHA-256.
  EXPECT_EQ(Read(dir / ("snapshot_" + s + ".db")), Read(kSnapB));
  EXPECT_EQ(r->revision, 59);  // snapB.status.json
  EXPECT_EQ(fake.hashkv_revision.load(), 59);
  // The file's own hashKV is recorded; the fake member compacted at 4, the
  // file at 37: its answer covers another history, and that is named.
  auto own = etcd::Backend::Open(kSnapB);
  ASSERT_TRUE(own);
  EXPECT_EQ(r->hash_kv, etcd::ComputeHashKv(**own, 0).value().hash);
  EXPECT_EQ(r->member_hash_kv, fo.hash_kv);
  EXPECT_TRUE(r->compacted_since);
  EXPECT_EQ(r->raft_index, 67u);
  EXPECT_EQ(r->compact_revision, 37);

  auto m = nlohmann::json::parse(Read(dir / ("backup_" + s + ".json")));
  EXPECT_EQ(m["snapshot"]["file"], "snapshot_" + s + ".db");
  EXPECT_EQ(m["snapshot"]["size"], fs::file_size(kSnapB));
  EXPECT_EQ(m["snapshot"]["sha256"], r->snapshot.sha256);
  EXPECT_EQ(m["resources"]["file"], "static_kuberesources_" + s + ".tar.gz");
  EXPECT_EQ(m["resources"]["size"], fs::file_size(dir / ("static_kuberesources_" + s + ".tar.gz")));
  EXPECT_EQ(m["revision"], 59);
  EXPECT_EQ(m["hashKV"], r->hash_kv);
  EXPECT_EQ(m["memberHashKV"]["hash"], fo.hash_kv);
  EXPECT_EQ(m["memberHashKV"]["compactedSinceSnapshot"], true);
  EXPECT_EQ(m["etcdVersion"], "3.4.23");
  EXPECT_EQ(m["clusterID"], "feedbeef");
  EXPECT_EQ(m["member"]["name"], "fake0");
  EXPECT_EQ(m["resources"]["revisions"]["kube-apiserver"], 12);
  EXPECT_EQ(m["resources"]["revisions"]["etcd"], 12);
  EXPECT_EQ(m["resources"]["etcdMember"], true);
  // The compaction in the file (37) differs from the fake member's (4).
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_NE(r->warnings.back().find("compacted"), std::string::npos);

  auto tar = ReadTarGz(dir / ("static_kuberesources_" + s + ".tar.gz"));
  EXPECT_EQ(tar["static-pod-resources/kube-apiserver-pod-12/secrets/tls/tls.crt"],
            "kube-apiserver12");
  EXPECT_EQ(tar["static-pod-resources/etcd-pod-12/secrets/tls/tls.crt"], "etcd12");
  EXPECT_EQ(tar["static-pod-resources/etcd-member/ca.crt"], "member-ca");
  EXPECT_EQ(tar["static-pod-resources/kube-apiserver-pod-12/self"], "-> kube-apiserver-pod-12");
  for (const auto& [name, content] : tar) {
    EXPECT_EQ(name.find("-pod-3/"), std::string::npos) << name << " (an older revision)";
    EXPECT_EQ(name.find("kube-apiserver-certs"), std::string::npos) << name;
  }
}

TEST_F(BackupTest, BadTrailerLeavesNothing) {
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  fo.bad_trailer = true;
  ExpectCorruptLeavingNothing(fo, {"SHA-256 mismatch"});
}

// Same revision, same compaction, another hash: the file is not what the
// member holds. Nothing is kept.
TEST_F(BackupTest, HashKvDisagreeingAtTheSameCompactionLeavesNothing) {
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  fo.hash_kv_compact_revision = 37;  // snapB's own compaction
  ExpectCorruptLeavingNothing(fo, {"differs from the member's"});
}

TEST_F(BackupTest, SchemaFaultInTheStreamLeavesNothing) {
  // A record of the key bucket that no longer decodes, served with a
  // trailer that matches: only verification can tell.
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  auto reader = bolt::Reader::Open(MappedFile::FromBytes(fo.snapshot_db, "snapB"), {});
  ASSERT_TRUE(reader);
  auto key = (*reader)->Bucket("key");
  ASSERT_TRUE(key && key->has_value() && !(*key)->is_inline());
  bolt::Cursor c(**reader, **key);
  ASSERT_TRUE(*c.Last());
  const size_t at = static_cast<size_t>(c.element().value.data() - fo.snapshot_db.data());
  fo.snapshot_db[at] = '\xff';  // wire type 7: not a KeyValue
  ExpectCorruptLeavingNothing(fo, {"fails verification", "schema"});
}

TEST_F(BackupTest, CutStreamLeavesNothingAndARerunSucceeds) {
  const fs::path dir = root_ / "bk";
  fs::create_directories(dir);
  Write(dir / "unrelated.txt", "keep me");
  {
    FakeEtcdOptions fo;
    fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
    fo.cut_after = 200 * 1024;
    FakeEtcd fake(fo);
    auto c = ClientFor(fake);
    auto r = Backup(*c, Options(dir), {}, nullptr);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().what.find("stream cut after"), std::string::npos) << r.error().ToString();
    EXPECT_EQ(Names(dir), std::vector<std::string>{"unrelated.txt"});
  }
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  FakeEtcd fake(fo);
  auto c = ClientFor(fake);
  auto r = Backup(*c, Options(dir), {}, nullptr);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(Names(dir).size(), 4u);
}

TEST_F(BackupTest, MissingResourcesIsAnErrorBeforeAnythingIsAsked) {
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  FakeEtcd fake(fo);
  auto c = ClientFor(fake);
  BackupOptions o = Options(root_ / "bk");
  o.resources = (root_ / "nope").string();
  auto r = Backup(*c, o, {}, nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  EXPECT_EQ(r.error().where, "--resources");
  EXPECT_NE(r.error().hint.find("--no-resources"), std::string::npos);
  EXPECT_EQ(fake.snapshots.load(), 0);
  EXPECT_FALSE(fs::exists(root_ / "bk"));

  o.no_resources = true;
  auto ok = Backup(*c, o, {}, nullptr);
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  EXPECT_FALSE(ok->has_resources);
  EXPECT_EQ(Names(root_ / "bk").size(), 2u);  // .db + manifest
}

TEST_F(BackupTest, KeepPrunesOlderPairsOnlyAfterSuccess) {
  const fs::path dir = root_ / "bk";
  for (const char* s : {"2020-01-01_000000", "2020-01-02_000000", "2020-01-03_000000"}) {
    Write(dir / (std::string("snapshot_") + s + ".db"), "old");
    Write(dir / (std::string("static_kuberesources_") + s + ".tar.gz"), "old");
  }
  Write(dir / "backup_2020-01-01_000000.json", "{}");
  Write(dir / "snapshot_db_kuberesources_2019-01-01_000000.tar.gz", "legacy");  // not ours to prune
  BackupOptions o = Options(dir);
  o.keep = 2;
  {
    FakeEtcdOptions fo;
    fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
    fo.cut_after = 1;
    FakeEtcd fake(fo);
    auto c = ClientFor(fake);
    ASSERT_FALSE(Backup(*c, o, {}, nullptr).has_value());
    EXPECT_EQ(Names(dir).size(), 8u) << "a failed run prunes nothing";
  }
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  FakeEtcd fake(fo);
  auto c = ClientFor(fake);
  auto r = Backup(*c, o, {}, nullptr);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->pruned, (std::vector<std::string>{"2020-01-02_000000", "2020-01-01_000000"}));
  const std::string s = r->stamp;
  EXPECT_EQ(Names(dir),
            (std::vector<std::string>{"backup_" + s + ".json", "snapshot_2020-01-03_000000.db",
                                      "snapshot_" + s + ".db",
                                      "snapshot_db_kuberesources_2019-01-01_000000.tar.gz",
                                      "static_kuberesources_2020-01-03_000000.tar.gz",
                                      "static_kuberesources_" + s + ".tar.gz"}));
}

TEST_F(BackupTest, DryRunListsTheStepsAndChangesNothing) {
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  FakeEtcd fake(fo);
  auto c = ClientFor(fake);
  BackupOptions o = Options(root_ / "bk");
  o.dry_run = true;
  ProcedureReport report;
  auto r = Backup(*c, o, {}, nullptr, &report);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(report.steps.size(), BackupSteps().size());
  for (size_t i = 0; i < report.steps.size(); i++) {
    EXPECT_EQ(report.steps[i].name, BackupSteps()[i].name);
    EXPECT_EQ(report.steps[i].state, "planned");
  }
  EXPECT_EQ(fake.snapshots.load(), 0);
  EXPECT_FALSE(fs::exists(root_ / "bk"));
}

// The journal a backup killed mid-stream leaves (stamp journaled by prepare).
void WriteKilledJournal(const fs::path& dir, const std::string& stamp) {
  Write(dir / ".cpr" / "journal" / "backup.json",
        nlohmann::json{{"procedure", "backup"},
                       {"inputs", "cpr backup"},
                       {"steps",
                        {{"choose-member", {{"state", "done"}}},
                         {"prepare", {{"state", "done"}}},
                         {"stream", {{"state", "started"}}}}},
                       {"facts", {{"stamp", stamp}, {"created_dir", "no"}}}}
            .dump());
}

TEST_F(BackupTest, ARerunRemovesWhatAKilledRunLeftAndTakesAFreshBackup) {
  const fs::path dir = root_ / "bk";
  const std::string old = "2020-01-01_000000";
  WriteKilledJournal(dir, old);
  // Killed during commit: the tar.gz and manifest published, the .db not.
  Write(dir / ("snapshot_" + old + ".db.cpr-tmp-0123456789ab"), "half");
  Write(dir / ("static_kuberesources_" + old + ".tar.gz"), "tar");
  Write(dir / ("backup_" + old + ".json"), "{}");
  Write(dir / ("backup_" + old + ".json.cpr-tmp-ba9876543210"), "{");
  Write(dir / "snapshot_2019-01-01_000000.db", "an older backup: --keep 1 prunes it");
  BackupOptions o = Options(dir);
  o.keep = 1;
  std::vector<std::string> lines;
  BackupObserver obs;
  obs.out = [&](const std::string& line) { lines.push_back(line); };
  ProcedureReport report;
  auto r = BackupOfSnapB(o, obs, &report);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(report.resumed);
  EXPECT_NE(r->stamp, old);
  EXPECT_EQ(r->pruned, std::vector<std::string>{"2019-01-01_000000"});
  for (const auto& s : report.steps) EXPECT_EQ(s.state, "done") << s.name;
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "[prepare] removed 4 file(s) of the interrupted run " + old),
            lines.end());
  const std::string s = r->stamp;
  EXPECT_EQ(Names(dir), (std::vector<std::string>{"backup_" + s + ".json", "snapshot_" + s + ".db",
                                                  "static_kuberesources_" + s + ".tar.gz"}))
      << "the journal goes once the run ends";
}

TEST_F(BackupTest, APublishedBackupOfAKilledRunIsKept) {
  const fs::path dir = root_ / "bk";
  const std::string old = "2020-01-01_000000";
  WriteKilledJournal(dir, old);  // killed after the .db's rename, before the journal said so
  for (const std::string& n : {"snapshot_" + old + ".db", "static_kuberesources_" + old + ".tar.gz",
                               "backup_" + old + ".json"})
    Write(dir / n, "whole");
  auto r = BackupOfSnapB(Options(dir));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(Names(dir).size(), 6u);
  EXPECT_EQ(Read(dir / ("backup_" + old + ".json")), "whole");
}

TEST_F(BackupTest, AFailedRerunKeepsNothingButDirAsItWas) {
  const fs::path dir = root_ / "bk";
  WriteKilledJournal(dir, "2020-01-01_000000");
  Write(dir / "snapshot_2020-01-01_000000.db.cpr-tmp-0123456789ab", "half");
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  fo.cut_after = 1;
  FakeEtcd fake(fo);
  auto c = ClientFor(fake);
  ASSERT_FALSE(Backup(*c, Options(dir), {}, nullptr).has_value());
  EXPECT_TRUE(Names(dir).empty()) << "the killed run's and this run's files, and the journal";
}

TEST_F(BackupTest, ASecondBackupIntoALockedDirIsRefused) {
  const fs::path dir = root_ / "bk";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);
  auto held = FileLock::Acquire(dir.string());
  ASSERT_TRUE(held.has_value());
  FakeEtcdOptions fo;
  fo.snapshot_db = FakeEtcd::DbOf(kSnapB);
  FakeEtcd fake(fo);
  auto c = ClientFor(fake);
  auto r = Backup(*c, Options(dir), {}, nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_NE(r.error().what.find("another cpr backup"), std::string::npos) << r.error().ToString();
  EXPECT_EQ(fake.snapshots.load(), 0);
  EXPECT_TRUE(Names(dir).empty());
}

TEST(StampOfSnapshotName, OnlyOurNames) {
  EXPECT_EQ(StampOfSnapshotName("snapshot_2024-01-02_030405.db"), "2024-01-02_030405");
  EXPECT_EQ(StampOfSnapshotName("snapshot_2024-01-02_03040.db"), "");
  EXPECT_EQ(StampOfSnapshotName("snapshot_2024-01-02-030405.db"), "");
  EXPECT_EQ(StampOfSnapshotName("snapshot_2024-01-02_030405.db.cpr-tmp-1"), "");
  EXPECT_EQ(StampOfSnapshotName("snapshot.db"), "");
}

TEST(SelectStaticPodResources, WholeFolderWithoutOpenShiftLayout) {
  const fs::path root = fs::temp_directory_path() / ("cpr-res-" + std::to_string(::getpid()));
  fs::remove_all(root);
  Write(root / "a" / "b.txt", "bb");
  Write(root / "c.txt", "c");
  auto sel = SelectStaticPodResources(root.string(), "--resources");
  ASSERT_TRUE(sel.has_value());
  EXPECT_FALSE(sel->openshift_layout);
  EXPECT_TRUE(sel->dirs.empty());
  EXPECT_EQ(sel->bytes, 3u);
  std::string out;
  auto stats = WriteResourcesTarGz(*sel, [&](Bytes b) -> Result<void> {
    out.append(b);
    return {};
  });
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->entries, 3u);                        // a/, a/b.txt, c.txt
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x8b);
  fs::remove_all(root);
}

}  // namespace
}  // namespace cpr::procedures
