// StaticPods: the member runtime of a master whose kubelet runs etcd and
// the control plane from static pod manifests (OpenShift, kubeadm). To stop
// a pod, its manifest is moved out of the manifests folder (into
// manifests-stopped/ beside it: a rename, never a delete) and the kubelet
// stops it; to start it, the manifest is moved back.
//
// StaticPodRuntime (static_pod_runtime.cc) is the member runtime over it.
//
// "Gone" is observable without the kubelet: etcd is gone when its data dir
// is no longer locked (bbolt flock on member/snap/db) and its ports refuse;
// another pod when the PID the lab's runner recorded has exited (a real
// kubelet records none: such a pod is not waited for, and the wait says so).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "host/etcd_config.h"
#include "host/host.h"
#include "host/pod_manifest.h"
#include "util/result.h"

namespace cpr::host {

// The pods a restore stops and starts again (seed §3.2: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler; keepalived, haproxy and the rest
// keep running).
bool IsControlPlanePod(const PodManifest& pod);

struct PodFile {
  std::string file;  // manifest file name, e.g. "etcd-member.yaml"
  PodManifest pod;
  bool stopped = false;  // in manifests-stopped/, not in manifests/
};

class StaticPods {
 public:
  explicit StaticPods(Host host) : host_(std::move(host)) {}

  // Manifests in the manifests folder, then those CPR stopped (sorted by file).
  Result<std::vector<PodFile>> List() const;
  // The etcd member's manifest, running or stopped; kNotFound if none.
  Result<PodFile> Etcd() const;

  // Moves `file` into manifests-stopped/ (no-op when already there).
  Result<void> Stop(const std::string& file) const;
  // Moves it back (no-op when already in manifests/).
  Result<void> Start(const std::string& file) const;
  // Waits until the pod's processes are gone. Returns what it could not
  // observe, or did ("" when all was seen gone); an error on timeout.
  // `kill_etcd_after` > 0: an etcd still holding its data dir that long
  // after its manifest left is SIGKILLed (found by the open db file). For
  // the procedures whose next step replaces that data dir anyway: an etcd
  // without quorum that is leader waits seconds on SIGTERM for a dead peer
  // to take over leadership, and a kill loses nothing (bbolt and the WAL
  // are crash-safe; the data dir is moved aside, not deleted).
  Result<std::string> WaitGone(const PodFile& pod, std::chrono::milliseconds timeout,
                               std::chrono::milliseconds kill_etcd_after = {}) const;
  // The etcd member an etcd pod's manifest configures (data dir defaulted
  // to the host's).
  MemberConfig PodMemberConfig(const PodFile& pod) const;

 private:
  Host host_;
};

}  // namespace cpr::host
