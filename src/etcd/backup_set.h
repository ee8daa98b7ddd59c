// Backups in OpenShift's layout, as restore finds them (architecture.md
// "Backups"): a folder holding `snapshot_<stamp>.db` with
// `static_kuberesources_<stamp>.tar.gz` (and, when `cpr backup` wrote it,
// `backup_<stamp>.json`), the legacy single file
// `snapshot_db_kuberesources_<stamp>.tar.gz`, or a bare snapshot/db file.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::etcd {

struct BackupSet {
  enum class Kind { kFile, kBackupDir, kLegacyTar };
  Kind kind = Kind::kFile;
  std::string snapshot;   // the .db (kLegacyTar: the archive)
  std::string resources;  // static_kuberesources_<stamp>.tar.gz, if any
  std::string manifest;   // backup_<stamp>.json, if any
  std::string stamp;
  std::string snapshot_sha256;  // from the manifest: checked before restoring
  uint64_t snapshot_size = 0;   // from the manifest, 0 if unknown
  std::vector<std::string> warnings;
  const char* KindName() const;
};

// Resolves SOURCE. For a folder: the pair with `stamp`, or the newest stamp
// that has both files; the manifest, when present, names the pair exactly.
Result<BackupSet> ResolveBackupSource(const std::string& source, const std::string& stamp);

// Streams the `snapshot.db` entry of a legacy tar.gz into `out` (created
// 0600, fsynced), never through /tmp. Returns its size.
Result<uint64_t> ExtractLegacySnapshot(const std::string& tar_gz, const std::string& out);

// SHA-256 of a whole file, hex (streamed).
Result<std::string> FileSha256(const std::string& path);

}  // namespace cpr::etcd
