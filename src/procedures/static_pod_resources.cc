#include "procedures/static_pod_resources.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <regex>

namespace cpr::procedures {
namespace fs = std::filesystem;

namespace {

const char* const kComponents[] = {"kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                   "etcd"};

// "<component>-pod-<N>" -> (component, N) for the four components.
std::optional<std::pair<std::string, int64_t>> PodRevision(const std::string& name) {
  static const std::regex re(
      "^(kube-apiserver|kube-controller-manager|kube-scheduler|etcd)-pod-([0-9]{1,18})$");
  std::smatch m;
  if (!std::regex_match(name, m, re)) return std::nullopt;
  return std::pair{m[1].str(), std::stoll(m[2].str())};
}

void CountTree(const fs::path& p, ResourceSelection* sel) {
  std::error_code ec;
  if (fs::is_symlink(p, ec)) return;
  if (fs::is_regular_file(p, ec)) {
    sel->bytes += fs::file_size(p, ec);
    sel->files++;
    return;
  }
  for (auto it =
           fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      sel->bytes += it->file_size(ec);
      sel->files++;
    }
  }
}

}  // namespace

Result<ResourceSelection> SelectStaticPodResources(const std::string& root,
                                                   const std::string& flag) {
  ResourceSelection sel;
  sel.root = root;
  struct stat st;
  const bool exists = ::stat(root.c_str(), &st) == 0;
  if (!exists || !S_ISDIR(st.st_mode))
    return MakeError(Code::kNotFound, flag,
                     fmt::format("static pod resources folder {} {}", root,
                                 exists ? "is not a directory" : "does not exist"),
                     fmt::format("point {} at the folder, or pass --no-resources on a cluster "
                                 "without static pods",
                                 flag));
  std::error_code ec;
  std::map<std::string, std::pair<int64_t, std::string>> latest;  // component -> (N, dir)
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (!entry.is_directory(ec) || entry.is_symlink(ec)) continue;
    const std::string name = entry.path().filename().string();
    if (auto pr = PodRevision(name)) {
      auto it = latest.find(pr->first);
      if (it == latest.end() || pr->second > it->second.first)
        latest[pr->first] = {pr->second, name};
    } else if (name == "etcd-member") {
      sel.etcd_member = true;
    }
  }
  if (ec) return MakeError(Code::kIo, flag, fmt::format("cannot list {}: {}", root, ec.message()));
  sel.openshift_layout = !latest.empty();
  if (sel.openshift_layout) {
    for (const char* component : kComponents) {
      auto it = latest.find(component);
      if (it == latest.end()) continue;
      sel.revisions[component] = it->second.first;
      sel.dirs.push_back(it->second.second);
    }
    if (sel.etcd_member) sel.dirs.push_back("etcd-member");
    for (const auto& d : sel.dirs) CountTree(fs::path(root) / d, &sel);
  } else if (sel.etcd_member) {
    // 4.3 before the first operator revision: etcd-member alone.
    sel.openshift_layout = true;
    sel.dirs.push_back("etcd-member");
    CountTree(fs::path(root) / "etcd-member", &sel);
  } else {
    sel.etcd_member = false;
    CountTree(fs::path(root), &sel);
  }
  return sel;
}

namespace {

struct Sink {
  const std::function<Result<void>(Bytes)>* out;
  std::optional<Error> error;
};

la_ssize_t WriteCallback(struct archive*, void* data, const void* buf, size_t n) {
  auto* sink = static_cast<Sink*>(data);
  if (auto r = (*sink->out)(Bytes(static_cast<const char*>(buf), n)); !r) {
    sink->error = std::move(r).error();
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

struct ArchiveCloser {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryCloser {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

// Every path to archive (relative to the folder), parents before children,
// sorted.
Result<std::vector<std::string>> ListEntries(const ResourceSelection& sel) {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path root(sel.root);
  std::vector<fs::path> tops;
  if (sel.dirs.empty()) {
    for (const auto& e : fs::directory_iterator(root, ec)) tops.push_back(e.path());
  } else {
    for (const auto& d : sel.dirs) tops.push_back(root / d);
  }
  if (ec) return MakeError(Code::kIo, sel.root, "cannot list: " + ec.message());
  for (const auto& top : tops) {
    out.push_back(fs::relative(top, root).string());
    if (!fs::is_directory(fs::symlink_status(top, ec))) continue;
    for (auto it = fs::recursive_directory_iterator(top, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      out.push_back(fs::relative(it->path(), root).string());
    }
    if (ec) return MakeError(Code::kIo, top.string(), "cannot list: " + ec.message());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<ArchiveStats> WriteResourcesTarGz(const ResourceSelection& sel,
                                         const std::function<Result<void>(Bytes)>& out) {
  ArchiveStats stats;
  const std::vector<std::string> paths = CPR_TRY(ListEntries(sel));
  std::unique_ptr<struct archive, ArchiveCloser> a(archive_write_new());
  Sink sink{&out, std::nullopt};
  auto fail = [&](const std::string& where) -> Error {
    if (sink.error) return *sink.error;
    const char* msg = archive_error_string(a.get());
    return MakeError(Code::kIo, where, std::string("tar.gz: ") + (msg ? msg : "libarchive failed"));
  };
  if (archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK ||
      archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open2(a.get(), &sink, nullptr, WriteCallback, nullptr, nullptr) != ARCHIVE_OK)
    return fail(sel.root);

  std::vector<char> buf(256 << 10);
  for (const std::string& rel : paths) {
    const std::string full = (fs::path(sel.root) / rel).string();
    struct stat st;
    if (::lstat(full.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed while we archive: not ours to keep
      return MakeError(Code::kIo, full, std::string("lstat: ") + std::strerror(errno));
    }
    std::unique_ptr<struct archive_entry, EntryCloser> e(archive_entry_new());
    const std::string name = std::string(kArchiveRoot) + "/" + rel;
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_perm(e.get(), st.st_mode & 07777);
    archive_entry_set_uid(e.get(), st.st_uid);
    archive_entry_set_gid(e.get(), st.st_gid);
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    std::string target;
    if (S_ISDIR(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
    } else if (S_ISLNK(st.st_mode)) {
      target.resize(static_cast<size_t>(st.st_size) + 1);
      const ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      if (n < 0)
        return MakeError(Code::kIo, full, std::string("readlink: ") + std::strerror(errno));
      target.resize(static_cast<size_t>(n));
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_symlink(e.get(), target.c_str());
    } else if (S_ISREG(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), st.st_size);
    } else {
      stats.skipped.push_back(rel);
      continue;
    }
    int fd = -1;
    if (S_ISREG(st.st_mode)) {
      fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) return MakeError(Code::kIo, full, std::string("open: ") + std::strerror(errno));
    }
    struct FdCloser {
      int fd;
      ~FdCloser() {
        if (fd >= 0) ::close(fd);
      }
    } closer{fd};
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) return fail(full);
    stats.entries++;
    if (fd < 0) continue;
    uint64_t left = static_cast<uint64_t>(st.st_size);
    while (left > 0) {
      const ssize_t n = ::read(fd, buf.data(), std::min<uint64_t>(buf.size(), left));
      if (n < 0) {
        if (errno == EINTR) continue;
        return MakeError(Code::kIo, full, std::string("read: ") + std::strerror(errno));
      }
      if (n == 0)
        return MakeError(Code::kIo, full, "file shrank while it was archived",
                         "run the backup again once the static pods are not being rewritten");
      if (archive_write_data(a.get(), buf.data(), static_cast<size_t>(n)) != n) return fail(full);
      left -= static_cast<uint64_t>(n);
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return fail(sel.root);
  return stats;
}

Result<std::vector<std::string>> ExtractResourcesTarGz(const std::string& tar_gz,
                                                       const std::string& staging) {
  if (::mkdir(staging.c_str(), 0700) != 0)
    return MakeError(Code::kIo, staging, std::string("cannot create: ") + std::strerror(errno));
  archive* in = archive_read_new();
  archive_read_support_filter_gzip(in);
  archive_read_support_format_tar(in);
  archive* out = archive_write_disk_new();
  // Entry names are checked here (under static-pod-resources/, no `..`) and
  // rewritten to absolute paths in `staging`; libarchive refuses writes
  // through symlinks.
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                          ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  auto fail = [&](const std::string& what) {
    Error e = MakeError(Code::kCorrupt, tar_gz, what);
    archive_read_free(in);
    archive_write_free(out);
    return e;
  };
  if (archive_read_open_filename(in, tar_gz.c_str(), 1 << 20) != ARCHIVE_OK)
    return fail(std::string("cannot read: ") + archive_error_string(in));
  const std::string prefix = std::string(kArchiveRoot) + "/";
  std::vector<std::string> tops;
  archive_entry* e = nullptr;
  int r;
  while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e);
    if (name.rfind("./", 0) == 0) name = name.substr(2);
    if (name == kArchiveRoot || name == prefix) continue;
    if (name.rfind(prefix, 0) != 0 || name.find("/../") != std::string::npos ||
        name.ends_with("/.."))
      return fail(fmt::format("entry {} is outside {}/", name, kArchiveRoot));
    const std::string rel = name.substr(prefix.size());
    const std::string top = rel.substr(0, rel.find('/'));
    if (top.empty() || top == "." || top == "..") return fail("entry " + name + ": bad path");
    if (std::find(tops.begin(), tops.end(), top) == tops.end()) tops.push_back(top);
    // Files, folders and symlinks only, never set-ID bits: a backup archive
    // extracted as root must not make devices, FIFOs or setuid programs.
    const mode_t type = archive_entry_filetype(e);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
      return fail("entry " + name + " is not a file, folder or symlink");
    archive_entry_set_perm(e, archive_entry_perm(e) & 0777);
    archive_entry_set_pathname(e, (staging + "/" + rel).c_str());
    if (const char* link = archive_entry_hardlink(e)) {
      std::string l = link;
      if (l.rfind("./", 0) == 0) l = l.substr(2);
      if (l.rfind(prefix, 0) != 0 || l.find("/../") != std::string::npos || l.ends_with("/.."))
        return fail("entry " + name + ": hard link outside the archive");
      archive_entry_set_hardlink(e, (staging + "/" + l.substr(prefix.size())).c_str());
    }
    if (archive_write_header(out, e) != ARCHIVE_OK)
      return fail("cannot extract " + name + ": " + archive_error_string(out));
    const void* buf;
    size_t size;
    la_int64_t offset;
    while ((r = archive_read_data_block(in, &buf, &size, &offset)) == ARCHIVE_OK)
      if (archive_write_data_block(out, buf, size, offset) != ARCHIVE_OK)
        return fail("cannot write " + name + ": " + archive_error_string(out));
    if (r != ARCHIVE_EOF)
      return fail("damaged archive at " + name + ": " + archive_error_string(in));
    if (archive_write_finish_entry(out) != ARCHIVE_OK)
      return fail("cannot finish " + name + ": " + archive_error_string(out));
  }
  if (r != ARCHIVE_EOF) return fail(std::string("damaged archive: ") + archive_error_string(in));
  archive_read_free(in);
  archive_write_free(out);
  return tops;
}

}  // namespace cpr::procedures
