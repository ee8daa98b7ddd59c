// A snapshot of a stopped member's own data dir with every write it had
// committed, WAL entries past its db included (restore-quorum
// --from-data-dir: quorum from the survivor's state instead of a backup).
//
// Only etcd knows how to apply its WAL to its db, so etcd does it: the data
// dir is copied (the original is never opened by anything but the copy's
// reader), etcd runs once on the copy with --force-new-cluster (a one-member
// cluster; entries committed by the old quorum are applied, uncommitted ones
// dropped, as etcd does), listening on 127.0.0.1 only, with the member's own
// certificates and client-certificate authentication; Maintenance.Snapshot
// streams its backend to OUT (temp name, fsync, rename); then that etcd is
// stopped by PID and the copy removed.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "client/endpoint.h"
#include "util/result.h"

namespace cpr::procedures {

struct SurvivorSnapshotOptions {
  std::string data_dir;     // the stopped member's (holds member/)
  std::string name;         // its --name
  std::string work_dir;     // scratch: the copy and etcd's log (CPR's own folder)
  std::string out;          // the snapshot file to write
  std::string etcd_binary;  // "" : etcd found in PATH
  client::TlsFiles tls;     // the member's own: serving and client certificates, CA
  std::chrono::seconds wait{60};
  std::function<void(const std::string&)> say;
};

struct SurvivorSnapshot {
  uint64_t db_bytes = 0;
  double seconds = 0;
};

Result<SurvivorSnapshot> SnapshotDataDir(const SurvivorSnapshotOptions& options);

// The etcd binary SnapshotDataDir runs: `given`, or etcd in PATH; kNotFound
// naming what to install (asked by the plan, before the member is stopped).
Result<std::string> FindEtcdBinary(const std::string& given);

}  // namespace cpr::procedures
