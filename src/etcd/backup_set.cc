#include "etcd/backup_set.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace cpr::etcd {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool Exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// The manifest's record of the snapshot: any object naming the file with a
// sha256 (and size) beside it.
void ReadManifest(BackupSet& set) {
  auto text = ReadFileLimited(set.manifest, 1 << 20);
  if (!text) {
    set.warnings.push_back("cannot read " + set.manifest + ": " + text.error().what);
    return;
  }
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded()) {
    set.warnings.push_back(set.manifest + " is not JSON; restoring without it");
    return;
  }
  const std::string base = set.snapshot.substr(set.snapshot.rfind('/') + 1);
  std::vector<const nlohmann::json*> todo{&doc};
  while (!todo.empty()) {
    const nlohmann::json* j = todo.back();
    todo.pop_back();
    if (j->is_object()) {
      for (const char* name_key : {"file", "name", "path"}) {
        auto it = j->find(name_key);
        auto sha = j->find("sha256");
        if (it != j->end() && it->is_string() && sha != j->end() && sha->is_string()) {
          const std::string f = it->get<std::string>();
          if (f == base || EndsWith(f, "/" + base)) {
            set.snapshot_sha256 = sha->get<std::string>();
            auto size = j->find("size");
            if (size != j->end() && size->is_number_unsigned())
              set.snapshot_size = size->get<uint64_t>();
            return;
          }
        }
      }
    }
    if (j->is_structured())
      for (const auto& v : *j) todo.push_back(&v);
  }
  set.warnings.push_back(set.manifest + " does not record " + base + "'s SHA-256");
}

// A manifest of `cpr backup --no-resources` says "resources": null: the
// .db alone is the whole backup. Without that record a .db lacking its
// tar.gz is half a pair (a backup cut short, or a tar.gz lost).
bool RecordsNoResources(const std::string& manifest) {
  auto text = ReadFileLimited(manifest, 1 << 20);
  if (!text) return false;
  const auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("resources") && j["resources"].is_null();
}

Result<BackupSet> ResolveDir(const std::string& dir, const std::string& want_stamp) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return MakeError(Code::kIo, dir, std::string("cannot list: ") + std::strerror(errno));
  std::vector<std::string> stamps;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (StartsWith(n, "snapshot_") && EndsWith(n, ".db"))
      stamps.push_back(n.substr(9, n.size() - 12));
  }
  ::closedir(d);
  // Stamps are YYYY-MM-DD_HHMMSS: string order is time order.
  std::sort(stamps.rbegin(), stamps.rend());
  BackupSet set;
  set.kind = BackupSet::Kind::kBackupDir;
  for (const auto& stamp : stamps) {
    if (!want_stamp.empty() && stamp != want_stamp) continue;
    const std::string res = dir + "/static_kuberesources_" + stamp + ".tar.gz";
    const std::string manifest = dir + "/backup_" + stamp + ".json";
    const bool snapshot_only = !Exists(res) && RecordsNoResources(manifest);
    if (!Exists(res) && !snapshot_only) {
      if (!want_stamp.empty())
        return MakeError(
            Code::kNotFound, dir,
            fmt::format("snapshot_{}.db has no static_kuberesources_{}.tar.gz", stamp, stamp),
            "a backup is the pair; pass the snapshot file itself to restore etcd alone");
      continue;
    }
    set.stamp = stamp;
    set.snapshot = dir + "/snapshot_" + stamp + ".db";
    set.resources = snapshot_only ? "" : res;
    if (snapshot_only)
      set.warnings.push_back(fmt::format(
          "backup_{}.json records a snapshot-only backup (cpr backup --no-resources): etcd is "
          "restored, no static pod resources",
          stamp));
    if (Exists(manifest)) {
      set.manifest = manifest;
      ReadManifest(set);
    } else {
      set.warnings.push_back(fmt::format(
          "no backup_{}.json beside the pair (an older backup): its files cannot be checked "
          "against a recorded SHA-256",
          stamp));
    }
    return set;
  }
  return MakeError(Code::kNotFound, dir,
                   want_stamp.empty()
                       ? "no snapshot_<stamp>.db with its static_kuberesources_<stamp>.tar.gz"
                       : "no backup with stamp " + want_stamp,
                   "list the folder; a backup is snapshot_<stamp>.db plus "
                   "static_kuberesources_<stamp>.tar.gz");
}

}  // namespace

const char* BackupSet::KindName() const {
  switch (kind) {
    case Kind::kFile:
      return "file";
    case Kind::kBackupDir:
      return "backup folder";
    case Kind::kLegacyTar:
      return "legacy tar.gz";
  }
  return "?";
}

Result<BackupSet> ResolveBackupSource(const std::string& source, const std::string& stamp) {
  struct stat st {};
  if (::stat(source.c_str(), &st) != 0)
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kIo, source,
                     std::string("cannot open: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return ResolveDir(source, stamp);
  BackupSet set;
  set.snapshot = source;
  if (EndsWith(source, ".tar.gz") || EndsWith(source, ".tgz"))
    set.kind = BackupSet::Kind::kLegacyTar;
  if (!stamp.empty())
    return MakeError(Code::kInvalidArgument, "--stamp",
                     "applies only when SOURCE is a backup folder");
  return set;
}

Result<uint64_t> ExtractLegacySnapshot(const std::string& tar_gz, const std::string& out) {
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  auto fail = [&](const std::string& what) {
    Error e = MakeError(Code::kCorrupt, tar_gz, what);
    archive_read_free(a);
    return e;
  };
  if (archive_read_open_filename(a, tar_gz.c_str(), 1 << 20) != ARCHIVE_OK)
    return fail(std::string("cannot read the archive: ") + archive_error_string(a));
  archive_entry* entry = nullptr;
  int r;
  while ((r = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
    const std::string name = archive_entry_pathname(entry);
    if (name != "snapshot.db" && !EndsWith(name, "/snapshot.db")) continue;
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail(out + ": cannot create: " + std::strerror(errno));
    uint64_t total = 0;
    const void* buf;
    size_t size;
    la_int64_t offset;
    while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
      if (static_cast<uint64_t>(offset) != total ||
          ::write(fd, buf, size) != static_cast<ssize_t>(size)) {
        ::close(fd);
        return fail("cannot extract snapshot.db (sparse entry or write error)");
      }
      total += size;
    }
    const bool ok = r == ARCHIVE_EOF && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return fail(std::string("snapshot.db is cut short: ") + archive_error_string(a));
    archive_read_free(a);
    return total;
  }
  if (r != ARCHIVE_EOF) return fail(std::string("damaged archive: ") + archive_error_string(a));
  return fail(
      "no snapshot.db inside (a legacy backup holds snapshot.db beside static-pod-resources/)");
}

Result<std::string> FileSha256(const std::string& path) {
  const int fd = CPR_TRY(OpenRegularFile(path));
  Sha256 sha;
  std::string buf(1 << 20, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return MakeError(Code::kIo, path, std::string("cannot read: ") + std::strerror(errno));
    }
    if (n == 0) break;
    sha.Update(Bytes(buf.data(), static_cast<size_t>(n)));
  }
  ::close(fd);
  const Sha256Digest d = sha.Finish();
  return HexOf(Bytes(reinterpret_cast<const char*>(d.data()), d.size()));
}

}  // namespace cpr::etcd
