// Host: a master host as CPR sees it, a root directory (`--root`, default /)
// under which live the paths of docs/architecture.md ("On a master host").
// Tests and the lab give every host its own root; on a real master it is /.
#pragma once

#include <string>
#include <string_view>

namespace cpr::host {

class Host {
 public:
  explicit Host(std::string root);

  const std::string& root() const { return root_; }
  // `rel` (no leading slash) under the root.
  std::string Path(std::string_view rel) const;

  std::string manifests() const { return Path("etc/kubernetes/manifests"); }
  // Where CPR moves a stopped pod's manifest (a rename: kubelet then stops it).
  std::string stopped_manifests() const { return Path("etc/kubernetes/manifests-stopped"); }
  std::string resources() const { return Path("etc/kubernetes/static-pod-resources"); }
  std::string data_dir() const { return Path("var/lib/etcd"); }
  std::string etcd_certs() const { return Path("etc/ssl/etcd"); }
  std::string state() const { return Path("var/lib/cpr"); }
  // Where the lab's kubelet stand-in keeps pod PIDs and logs (lab/runner.h);
  // absent on a real host.
  std::string pod_pids() const { return Path("var/run/cpr-pods"); }
  std::string pod_logs() const { return Path("var/log/cpr-pods"); }

 private:
  std::string root_;  // no trailing slash; "" for /
};

}  // namespace cpr::host
