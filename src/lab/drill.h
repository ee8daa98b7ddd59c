// The disaster drill (`cpr drill`, the README's main job): the seed's
// disasters reproduced on a lab of real etcd 3.4 masters, each recovered
// with CPR's procedures and checked key by key, timed phase by phase.
//
//   scenario 1  quorum loss (seed §3.2): a 3-master lab with Kubernetes-like
//               data and a backup; writes after it; two masters killed;
//               restore-quorum on the survivor; every key and value checked
//               against the backup (and nothing written after it present);
//               an old master booted again is refused by the restored
//               cluster (fencing: cluster ID mismatch), which keeps serving.
//   scenario 2  a previous state (seed §3.3): a prefix deleted by accident;
//               every master restored with restore-cluster; the data
//               checked on every member, hashes equal.
//   scenario 3  no usable backup: writes after the last backup, the
//               majority lost; survey picks the survivor, restore-quorum
//               --from-data-dir keeps every write; grown back to three.
//   scenario 4  expired certificates (seed §3.4): 3 masters and 2 workers;
//               the cluster stops and its certificates expire; a start
//               fails on TLS; certs check names them, certs regenerate
//               re-issues them, the static pods restart; a recovery API on
//               m1 (nodes from etcd), kubeconfig recover, each worker's
//               `csr request`, `csr approve --policy nodes` approves
//               exactly those, rogue CSRs stay pending; data intact.
//
// The report: every scenario, phase and step with its start and duration,
// every check with its result, the recovery time (kill -> serving) and,
// when etcdctl is installed, the same backup restored and started the
// etcdctl way on this machine for comparison. As JSON, and as one
// self-contained HTML page with an SVG timeline (no network).
#pragma once

#include <functional>
#include <string>

#include "util/result.h"

namespace cpr::lab {

struct DrillOptions {
  std::string dir;          // the labs live under it; removed afterwards unless keep
  int mb = 8;               // Kubernetes-like data to write
  std::string self;         // the cpr binary (lab runners)
  std::string report_html;  // "" : none
  bool keep = false;
  bool baseline_etcdctl = false;                // also time etcdctl's restore of the same backup
  std::function<void(const std::string&)> out;  // progress lines
};

struct DrillResult {
  bool ok = false;
  std::string json;   // the whole report
  std::string table;  // phases and steps, for the terminal
};

Result<DrillResult> RunDrill(const DrillOptions& options);

// The HTML page of a drill report (the JSON RunDrill produced).
std::string DrillReportHtml(const std::string& report_json);

}  // namespace cpr::lab
