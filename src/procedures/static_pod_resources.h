// The static pod resources folder a backup carries beside the snapshot
// (default /etc/kubernetes/static-pod-resources): which directories to take,
// and the tar.gz OpenShift's backup script makes of them.
//
// OpenShift's layout is recognised by `<component>-pod-<N>` directories
// (revision N). There the backup takes the latest revision of each of
// kube-apiserver, kube-controller-manager, kube-scheduler and etcd, and
// 4.3's `etcd-member` folder whole; otherwise it takes the whole folder.
// Entries are stored as `static-pod-resources/<dir>/...` whatever the
// folder is called, so that `tar -C /etc/kubernetes -xzf FILE
// static-pod-resources` (OpenShift's restore) puts them back.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace cpr::procedures {

inline constexpr const char* kDefaultResourcesDir = "/etc/kubernetes/static-pod-resources";
inline constexpr const char* kArchiveRoot = "static-pod-resources";

struct ResourceSelection {
  std::string root;                          // the folder, as given
  bool openshift_layout = false;             // <component>-pod-<N> found
  std::vector<std::string> dirs;             // top-level names taken; empty: the whole folder
  std::map<std::string, int64_t> revisions;  // component -> N taken
  bool etcd_member = false;                  // 4.3's etcd-member folder taken
  uint64_t bytes = 0;                        // regular file bytes (free-space estimate)
  uint64_t files = 0;
};

// `flag` names the option in errors ("--resources"). A missing folder is
// kNotFound.
Result<ResourceSelection> SelectStaticPodResources(const std::string& root,
                                                   const std::string& flag);

struct ArchiveStats {
  uint64_t entries = 0;
  std::vector<std::string> skipped;  // sockets, fifos, devices: not archived
};

// Writes the selection as a gzip-compressed tar (pax), entries sorted, with
// modes, owners, mtimes and symlinks as they are; `out` gets the compressed
// bytes in order. A file that shrinks while it is read is an error.
Result<ArchiveStats> WriteResourcesTarGz(const ResourceSelection& selection,
                                         const std::function<Result<void>(Bytes)>& out);

// Extracts such a tar.gz (entries under static-pod-resources/) into
// `staging` (created; must not exist), refusing absolute paths, `..` and
// writes through symlinks. Returns the top-level directories it holds;
// the caller moves them into place.
Result<std::vector<std::string>> ExtractResourcesTarGz(const std::string& tar_gz,
                                                       const std::string& staging);

}  // namespace cpr::procedures
