// `cpr recovery-api serve|stop`: the recovery API's process and state dir.
//
// State dir (0700):
//   recovery-api.lock  flock held by the serving process
//   recovery-api.json  pid, URL, listen address, pki dir of the running server
//   csrs/              the CSR store (store.h)
//   audit.log          every decision, with the caller and the reason (no secrets)
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "recovery/issuer.h"
#include "util/result.h"

namespace cpr::recovery {

struct ServeOptions {
  std::string pki_dir;  // a `cpr pki init` directory with the Kubernetes CAs
  std::string listen;   // ADDR:PORT, never a wildcard
  std::string state_dir;
  std::vector<std::string> nodes;  // --node NAME=IP
  std::string nodes_snapshot;      // --nodes-from-snapshot: Node objects of a backup
  // --nodes-from-etcd: the Node objects (key, value) the CLI read from a live etcd.
  std::vector<std::pair<std::string, std::string>> etcd_nodes;
  KubeletCaOptions kubelet_ca;  // --ca/--ca-key, --ca-from-snapshot [--encryption-config]
};

// Runs until SIGTERM/SIGINT (`recovery-api stop`). Prints one line once listening.
Result<void> Serve(const ServeOptions& options);

struct RunningApi {
  int pid = 0;
  std::string url, pki_dir;
};
std::optional<RunningApi> FindRunningApi(const std::string& state_dir);

// Stops the server on `state_dir`; nullopt when none ran.
Result<std::optional<int>> StopApi(const std::string& state_dir, int wait_seconds = 30);

}  // namespace cpr::recovery
