// Static pod manifests: real Kubernetes Pod YAML (yaml-cpp), shaped like
// OpenShift 4.3's etcd-member.yaml (openshift-dr.md): one container whose
// command runs the component, env, hostPath volumes, hostNetwork. The
// kubelet (or the lab's stand-in, lab/runner.h) runs what they say.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "util/result.h"

namespace cpr::host {

struct PodManifest {
  std::string name;  // metadata.name, e.g. "etcd-member-m1"
  std::string namespace_ = "kube-system";
  std::string image;                                         // informative here
  std::vector<std::string> command;                          // containers[0].command (+ args)
  std::vector<std::pair<std::string, std::string>> env;      // containers[0].env
  std::vector<std::pair<std::string, std::string>> volumes;  // name -> hostPath
  std::vector<std::pair<std::string, std::string>> labels;   // metadata.labels

  // The value of `--flag` (or `--flag=value`) in the command; "" if absent.
  std::string Flag(const std::string& flag) const;
  // True when the container runs etcd (its command's program is etcd).
  bool RunsEtcd() const;
};

Result<PodManifest> ParsePodManifest(const std::string& yaml, const std::string& where);
Result<PodManifest> ReadPodManifest(const std::string& path);
std::string RenderPodManifest(const PodManifest& pod);
// Written atomically (temp, fsync, rename, fsync dir), 0600.
Result<void> WritePodManifest(const std::string& path, const PodManifest& pod);

// The etcd member a manifest describes.
struct EtcdMemberSpec {
  std::string name;  // --name
  std::string ip;    // listens on ip:2379 and ip:2380
  int client_port = 2379, peer_port = 2380;
  std::string data_dir;
  std::string cert_dir;         // ca.crt, peer.{crt,key}, server.{crt,key}
  std::string initial_cluster;  // name=https://ip:2380,...
  std::string initial_cluster_state = "new";
  std::string initial_cluster_token = "etcd-cluster";
  std::string etcd_binary = "etcd";

  std::string ClientUrl() const;
  std::string PeerUrl() const;
};
PodManifest EtcdMemberManifest(const EtcdMemberSpec& spec);

}  // namespace cpr::host
