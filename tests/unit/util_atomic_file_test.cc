// AtomicFile (streamed durable writes) and WriteFileAtomic: a failure at any
// step leaves the target as it was and no temporary file behind.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/atomic_file.h"
#include "util/file_lock.h"

namespace cpr {
namespace {
namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cpr-atomic-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  fs::path dir_;
};

TEST_F(AtomicFileTest, CommitPublishesWithModeAndNoTemp) {
  const std::string path = (dir_ / "snap.db").string();
  auto f = AtomicFile::Create(path, 0600);
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE((*f)->Write("hello ").has_value());
  ASSERT_TRUE((*f)->Write("world").has_value());
  EXPECT_EQ((*f)->size(), 11u);
  EXPECT_FALSE(fs::exists(path));  // not before Commit
  ASSERT_TRUE((*f)->Sync().has_value());
  EXPECT_EQ(Read((*f)->temp_path()), "hello world");  // readable to verify before publishing
  EXPECT_FALSE(fs::exists(path));
  ASSERT_TRUE((*f)->Commit().has_value());
  EXPECT_TRUE((*f)->committed());
  EXPECT_EQ(Read(path), "hello world");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  f->reset();  // destruction after commit keeps the file
  EXPECT_EQ(Names(), std::vector<std::string>{"snap.db"});
}

TEST_F(AtomicFileTest, DestroyedBeforeCommitLeavesNothing) {
  const std::string path = (dir_ / "snap.db").string();
  {
    auto f = AtomicFile::Create(path, 0600);
    ASSERT_TRUE(f.has_value());
    ASSERT_TRUE((*f)->Write(std::string(1 << 20, 'x')).has_value());
    EXPECT_EQ(Names().size(), 1u);  // the temporary file
  }
  EXPECT_TRUE(Names().empty());
  {
    auto f = AtomicFile::Create(path, 0600);
    ASSERT_TRUE((*f)->Write("x").has_value());
    ASSERT_TRUE((*f)->Sync().has_value());  // synced, then abandoned
  }
  EXPECT_TRUE(Names().empty());
}

TEST_F(AtomicFileTest, RemoveTempFilesTakesOnlyThatPathsTemporaries) {
  const std::string path = (dir_ / "snap.db").string();
  auto killed = AtomicFile::Create(path, 0600);  // as a killed writer leaves it
  ASSERT_TRUE(killed.has_value());
  std::ofstream(dir_ / "snap.db") << "published";
  std::ofstream(dir_ / "snap.db2.cpr-tmp-0123456789ab") << "another path's";
  auto removed = RemoveTempFiles(path);
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(Names(), (std::vector<std::string>{"snap.db", "snap.db2.cpr-tmp-0123456789ab"}));
  EXPECT_EQ(*RemoveTempFiles((dir_ / "none" / "x").string()), 0) << "a missing folder: nothing";
}

TEST_F(AtomicFileTest, FileLockExcludesAnotherHolderUntilReleased) {
  auto first = FileLock::Acquire(dir_.string(), false);  // a directory
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  auto second = FileLock::Acquire(dir_.string(), false);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Code::kFailedPrecondition);
  { auto gone = std::move(first).value(); }
  EXPECT_TRUE(FileLock::Acquire(dir_.string(), false).has_value());
}

TEST_F(AtomicFileTest, CommitReplacesAnOldFileWhole) {
  const std::string path = (dir_ / "backup.json").string();
  ASSERT_TRUE(WriteFileAtomic(path, "old", 0644).has_value());
  auto f = AtomicFile::Create(path, 0600);
  ASSERT_TRUE((*f)->Write("new").has_value());
  EXPECT_EQ(Read(path), "old");  // untouched until the rename
  (*f)->Abort();
  EXPECT_EQ(Read(path), "old");
  EXPECT_EQ(Names(), std::vector<std::string>{"backup.json"});
  auto g = AtomicFile::Create(path, 0600);
  ASSERT_TRUE((*g)->Write("new").has_value());
  ASSERT_TRUE((*g)->Commit().has_value());
  EXPECT_EQ(Read(path), "new");
}

TEST_F(AtomicFileTest, CreateInAMissingDirectoryFailsClearly) {
  auto f = AtomicFile::Create((dir_ / "no" / "such" / "x").string(), 0600);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code, Code::kIo);
  EXPECT_NE(f.error().where.find("no/such/x"), std::string::npos);
}

TEST_F(AtomicFileTest, WriteAfterAbortIsAnError) {
  auto f = AtomicFile::Create((dir_ / "x").string(), 0600);
  (*f)->Abort();
  EXPECT_FALSE((*f)->Write("late").has_value());
  EXPECT_TRUE(Names().empty());
}

// /proc files report size 0: the read goes to end of file, not to st_size
// (the stuck-etcd check reads /proc/PID/comm through it).
TEST_F(AtomicFileTest, ReadFileLimitedReadsProcFilesAndEnforcesTheLimit) {
  auto comm = ReadFileLimited("/proc/self/comm", 64);
  ASSERT_TRUE(comm.has_value()) << comm.error().ToString();
  EXPECT_FALSE(comm->empty());
  const std::string path = (dir_ / "big").string();
  {
    auto f = AtomicFile::Create(path, 0600);
    ASSERT_TRUE((*f)->Write(std::string(100, 'x')).has_value());
    ASSERT_TRUE((*f)->Commit().has_value());
  }
  EXPECT_EQ(ReadFileLimited(path, 100).value().size(), 100u);
  auto over = ReadFileLimited(path, 99);
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, Code::kInvalidArgument);
}

}  // namespace
}  // namespace cpr
