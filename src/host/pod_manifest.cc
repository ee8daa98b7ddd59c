#include "host/pod_manifest.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "util/atomic_file.h"

namespace cpr::host {

std::string PodManifest::Flag(const std::string& flag) const {
  for (size_t i = 0; i < command.size(); i++) {
    if (command[i] == flag && i + 1 < command.size()) return command[i + 1];
    if (command[i].rfind(flag + "=", 0) == 0) return command[i].substr(flag.size() + 1);
  }
  return "";
}

bool PodManifest::RunsEtcd() const {
  if (command.empty()) return false;
  const std::string& prog = command[0];
  const size_t slash = prog.rfind('/');
  return (slash == std::string::npos ? prog : prog.substr(slash + 1)) == "etcd";
}

namespace {

// n[key] without yaml-cpp's throwing "zombie" nodes: a missing key (or a
// node that is not a map) gives a null node.
YAML::Node Child(const YAML::Node& n, const std::string& key) {
  if (n.IsMap())
    for (const auto& kv : n)
      if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
  return YAML::Node();
}

std::string Text(const YAML::Node& n, const std::string& key) {
  const YAML::Node c = Child(n, key);
  return c.IsScalar() ? c.Scalar() : std::string();
}

}  // namespace

Result<PodManifest> ParsePodManifest(const std::string& text, const std::string& where) {
  PodManifest pod;
  try {
    const YAML::Node doc = YAML::Load(text);
    if (Text(doc, "kind") != "Pod")
      return MakeError(Code::kCorrupt, where, "not a Kubernetes Pod manifest (kind: Pod)");
    const YAML::Node meta = Child(doc, "metadata");
    pod.name = Text(meta, "name");
    pod.namespace_ = Text(meta, "namespace");
    for (const auto& kv : Child(meta, "labels"))
      if (kv.first.IsScalar() && kv.second.IsScalar())
        pod.labels.emplace_back(kv.first.Scalar(), kv.second.Scalar());
    const YAML::Node spec = Child(doc, "spec");
    const YAML::Node containers = Child(spec, "containers");
    if (!containers.IsSequence() || containers.size() == 0)
      return MakeError(Code::kCorrupt, where, "the pod has no containers");
    const YAML::Node c = containers[0];
    pod.image = Text(c, "image");
    for (const char* field : {"command", "args"})
      for (const auto& a : Child(c, field))
        if (a.IsScalar()) pod.command.push_back(a.Scalar());
    for (const auto& e : Child(c, "env")) pod.env.emplace_back(Text(e, "name"), Text(e, "value"));
    for (const auto& v : Child(spec, "volumes"))
      if (Child(v, "hostPath").IsMap())
        pod.volumes.emplace_back(Text(v, "name"), Text(Child(v, "hostPath"), "path"));
  } catch (const YAML::Exception& e) {
    return MakeError(Code::kCorrupt, where, std::string("not valid YAML: ") + e.what());
  }
  if (pod.name.empty()) return MakeError(Code::kCorrupt, where, "the pod has no metadata.name");
  if (pod.command.empty())
    return MakeError(Code::kCorrupt, where, "the pod's container has no command");
  return pod;
}

Result<PodManifest> ReadPodManifest(const std::string& path) {
  const std::string text = CPR_TRY(ReadFileLimited(path, 1 << 20));
  return ParsePodManifest(text, path);
}

std::string RenderPodManifest(const PodManifest& pod) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "v1";
  out << YAML::Key << "kind" << YAML::Value << "Pod";
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << pod.name;
  out << YAML::Key << "namespace" << YAML::Value << pod.namespace_;
  if (!pod.labels.empty()) {
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : pod.labels) out << YAML::Key << k << YAML::Value << v;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "hostNetwork" << YAML::Value << true;
  out << YAML::Key << "priorityClassName" << YAML::Value << "system-node-critical";
  out << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << pod.name;
  out << YAML::Key << "image" << YAML::Value << pod.image;
  out << YAML::Key << "command" << YAML::Value << YAML::BeginSeq;
  for (const auto& a : pod.command) out << YAML::DoubleQuoted << a;
  out << YAML::EndSeq;
  if (!pod.env.empty()) {
    out << YAML::Key << "env" << YAML::Value << YAML::BeginSeq;
    for (const auto& [k, v] : pod.env)
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << k << YAML::Key << "value"
          << YAML::Value << YAML::DoubleQuoted << v << YAML::EndMap;
    out << YAML::EndSeq;
  }
  if (!pod.volumes.empty()) {
    out << YAML::Key << "volumeMounts" << YAML::Value << YAML::BeginSeq;
    for (const auto& [name, path] : pod.volumes)
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << name << YAML::Key
          << "mountPath" << YAML::Value << path << YAML::EndMap;
    out << YAML::EndSeq;
  }
  out << YAML::EndMap << YAML::EndSeq;
  if (!pod.volumes.empty()) {
    out << YAML::Key << "volumes" << YAML::Value << YAML::BeginSeq;
    for (const auto& [name, path] : pod.volumes)
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << name << YAML::Key << "hostPath"
          << YAML::Value << YAML::BeginMap << YAML::Key << "path" << YAML::Value << path
          << YAML::EndMap << YAML::EndMap;
    out << YAML::EndSeq;
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

Result<void> WritePodManifest(const std::string& path, const PodManifest& pod) {
  return WriteFileAtomic(path, RenderPodManifest(pod), 0600);
}

std::string EtcdMemberSpec::ClientUrl() const {
  return fmt::format("https://{}:{}", ip, client_port);
}
std::string EtcdMemberSpec::PeerUrl() const { return fmt::format("https://{}:{}", ip, peer_port); }

PodManifest EtcdMemberManifest(const EtcdMemberSpec& s) {
  PodManifest pod;
  pod.name = "etcd-member-" + s.name;
  pod.namespace_ = "openshift-etcd";
  pod.image = "etcd:3.4 (Debian etcd-server)";
  pod.labels = {{"k8s-app", "etcd"}, {"etcd", "true"}};
  const std::string& c = s.cert_dir;
  // The shape of OpenShift 4.3's etcd-member.yaml: mutual TLS on both ports,
  // the member's own peer and server certificates, one CA.
  pod.command = {s.etcd_binary,
                 "--name",
                 s.name,
                 "--data-dir",
                 s.data_dir,
                 "--listen-client-urls",
                 s.ClientUrl(),
                 "--advertise-client-urls",
                 s.ClientUrl(),
                 "--listen-peer-urls",
                 s.PeerUrl(),
                 "--initial-advertise-peer-urls",
                 s.PeerUrl(),
                 "--initial-cluster",
                 s.initial_cluster,
                 "--initial-cluster-state",
                 s.initial_cluster_state,
                 "--initial-cluster-token",
                 s.initial_cluster_token,
                 "--cert-file",
                 c + "/server.crt",
                 "--key-file",
                 c + "/server.key",
                 "--trusted-ca-file",
                 c + "/ca.crt",
                 "--client-cert-auth",
                 "--peer-cert-file",
                 c + "/peer.crt",
                 "--peer-key-file",
                 c + "/peer.key",
                 "--peer-trusted-ca-file",
                 c + "/ca.crt",
                 "--peer-client-cert-auth",
                 "--logger",
                 "zap",
                 "--log-outputs",
                 "stderr"};
  // No ETCD_* variables: etcd refuses one that a flag also sets.
  pod.env = {{"ETCDCTL_API", "3"}};
  pod.volumes = {{"data-dir", s.data_dir}, {"certs", s.cert_dir}};
  return pod;
}

}  // namespace cpr::host
