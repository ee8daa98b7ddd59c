// Tests for procedures/static_pod_resources.h's ExtractResourcesTarGz: what a
// restore (as root) extracts from a backup's archive, and what it refuses.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "pki_testing.h"
#include "procedures/static_pod_resources.h"

namespace cpr::procedures {
namespace {

using cpr::testing::TempDir;

struct Entry {
  std::string name;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string data;
};

std::string MakeTarGz(const std::string& path, const std::vector<Entry>& entries) {
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  archive_write_open_filename(a, path.c_str());
  for (const auto& e : entries) {
    archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.name.c_str());
    archive_entry_set_filetype(en, e.type);
    archive_entry_set_perm(en, e.perm);
    archive_entry_set_size(en, static_cast<la_int64_t>(e.data.size()));
    archive_write_header(a, en);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
  return path;
}

TEST(ExtractResources, PutsFoldersUnderStagingAndNamesThem) {
  TempDir dir;
  const std::string tar = MakeTarGz(
      dir / "r.tar.gz", {{"static-pod-resources/", AE_IFDIR, 0755, ""},
                         {"static-pod-resources/kube-apiserver-pod-3/", AE_IFDIR, 0755, ""},
                         {"static-pod-resources/kube-apiserver-pod-3/kube-apiserver-pod.yaml",
                          AE_IFREG, 0644, "kind: Pod\n"},
                         {"static-pod-resources/etcd-member/ca.crt", AE_IFREG, 04755, "pem"}});
  auto tops = ExtractResourcesTarGz(tar, dir / "staging");
  ASSERT_TRUE(tops) << tops.error().ToString();
  EXPECT_EQ(*tops, (std::vector<std::string>{"kube-apiserver-pod-3", "etcd-member"}));
  std::ifstream in(dir / "staging/kube-apiserver-pod-3/kube-apiserver-pod.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "kind: Pod\n");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "staging/etcd-member/ca.crt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07000, 0u) << "a set-ID bit survived extraction";
}

TEST(ExtractResources, RefusesWhatARestoreMustNotWrite) {
  TempDir dir;
  const std::vector<std::pair<const char*, std::vector<Entry>>> cases = {
      {"fifo", {{"static-pod-resources/x/fifo", AE_IFIFO, 0644, ""}}},
      {"device", {{"static-pod-resources/x/dev", AE_IFCHR, 0644, ""}}},
      {"outside", {{"etc/passwd", AE_IFREG, 0644, "root"}}},
      {"dotdot", {{"static-pod-resources/../../evil", AE_IFREG, 0644, "x"}}},
  };
  for (const auto& [name, entries] : cases) {
    const std::string tar = MakeTarGz(dir / (std::string(name) + ".tar.gz"), entries);
    auto r = ExtractResourcesTarGz(tar, dir / (std::string("staging-") + name));
    EXPECT_FALSE(r) << name;
  }
  struct stat st {};
  EXPECT_NE(::stat((dir / "evil").c_str(), &st), 0);
}

}  // namespace
}  // namespace cpr::procedures
