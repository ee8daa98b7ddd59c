// The lab: several master hosts on one machine, for tests, the drill and
// benchmarks (never on the product's restore path). A lab host is a root
// folder under the lab dir with the paths of host/host.h, its own loopback
// address in 127.0.0.0/8 (a /24 block of its own per lab, claimed by a file
// so parallel labs never collide) and a real etcd 3.4 member on ports
// 2379/2380 of that address with mutual TLS on every connection
// (`cpr pki init` certificates under the host's etc/ssl/etcd), run by the
// host's static-pod runner (lab/runner.h) from etcd-member.yaml. The other
// control-plane pods (kube-apiserver, kube-controller-manager,
// kube-scheduler) and a haproxy pod are placeholders the runner runs too,
// each with its OpenShift-like etc/kubernetes/static-pod-resources tree.
//
// Workers (`--workers N`): hosts without etcd (root DIR/w<i>, an address,
// node name w<i>) for the kubelet side of the expired-certificate recovery
// (`cpr csr request`). Every host, master or worker, is registered as a
// Node object in etcd (/registry/minions/<name>, InternalIP and Hostname),
// as kube-apiserver would have, so the recovery API's node inventory
// (`--nodes-from-etcd`, `--nodes-from-snapshot`) knows them.
//
// State: DIR/lab.json (hosts, addresses, the runners' PIDs). Every process
// the lab starts is stopped by PID: `down` stops the runners (which stop
// their pods), then kills by PID whatever is left.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::lab {

struct LabHost {
  std::string name;  // m1, m2, ...
  std::string ip;    // 127.A.B.(10+i)
  std::string root;  // DIR/<name>
  int runner_pid = 0;
  std::string ClientUrl() const { return "https://" + ip + ":2379"; }
  std::string PeerUrl() const { return "https://" + ip + ":2380"; }
};

struct Lab {
  std::string dir;    // absolute
  std::string pki;    // DIR/pki (`cpr pki init` layout)
  std::string block;  // "127.A.B"
  std::string token;  // the etcd cluster token the lab started with
  std::vector<LabHost> hosts;
  std::vector<LabHost> workers;  // no runner, no etcd
  std::string AdminCert() const { return pki + "/admin.crt"; }
  std::string AdminKey() const { return pki + "/admin.key"; }
  std::string CaCert() const { return pki + "/ca.crt"; }
  std::string InitialCluster() const;  // m1=https://ip:2380,...
  const LabHost* Find(const std::string& name) const;
  std::string ToJson() const;  // the `lab up -w json` shape
};

struct UpOptions {
  std::string dir;
  int masters = 3;
  std::string self;  // the cpr binary that runs `lab runner`
  int timeout_seconds = 60;
  int workers = 0;
  // The lifetime of every leaf certificate (members' and admin's); 0: a
  // year. A short one makes the expired-certificate disaster.
  int64_t cert_validity_seconds = 0;
};
// Creates the hosts, starts their runners and waits until every member
// serves a linearizable read. On failure everything started is stopped.
Result<Lab> Up(const UpOptions& options);
Result<Lab> Load(const std::string& dir);

struct HostStatus {
  std::string name, ip;
  bool runner = false;               // the runner process lives
  std::vector<std::string> pods;     // manifests in the folder
  std::vector<std::string> running;  // pods whose recorded PID lives
  bool etcd_answers = false;         // its client port accepts connections
};
Result<std::vector<HostStatus>> Status(const std::string& dir);

// Power loss: the runner and every pod of `host` SIGKILLed, nothing else.
// Returns once the hosts still up agree on a leader among themselves (when
// they hold a quorum), so the next step meets a settled cluster.
Result<void> Kill(const std::string& dir, const std::string& host);
// Shutdown: the runner stops the host's pods (SIGTERM), then itself.
Result<void> Stop(const std::string& dir, const std::string& host);
// Boot: the host's runner starts again (and runs whatever manifests are there).
Result<void> Start(const std::string& dir, const std::string& host, const std::string& self);
// A fresh empty host (root, address, runner; no etcd yet) joins the lab.
Result<LabHost> AddHost(const std::string& dir, const std::string& name, const std::string& self);
// Stops every process the lab started, by PID, and removes DIR.
Result<void> Down(const std::string& dir);

}  // namespace cpr::lab
