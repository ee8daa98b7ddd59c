#include "lab/lab.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "client/client.h"
#include "client/endpoint.h"
#include "host/host.h"
#include "host/pod_manifest.h"
#include "host/probe.h"
#include "k8s/node.h"
#include "pki/etcd_pki.h"
#include "pki/kube_pki.h"
#include "procedures/serving.h"
#include "util/atomic_file.h"
#include "util/process.h"

namespace cpr::lab {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kClaims = "/tmp/cpr-lab-claims";
constexpr int kFirstHost = 11;     // 127.A.B.11, .12, ...
constexpr int kFirstWorker = 101;  // 127.A.B.101, ...

std::string Errno() { return std::strerror(errno); }

bool Exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

// Alive and not a zombie (a runner whose parent exited is reaped by init).
bool Alive(int pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

bool WaitDead(const std::vector<int>& pids, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool any = false;
    for (int p : pids) any = any || Alive(p);
    if (!any) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Can something listen on ip:port? (Nothing else holds it.)
bool Bindable(const std::string& ip, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A /24 of 127.0.0.0/8 for this lab: random, claimed by an O_EXCL file so
// two labs never share one, and every host address's ports free.
Result<std::string> ClaimBlock(const std::string& dir, int hosts) {
  CPR_RETURN_IF_ERROR(MakeDirs(kClaims, 0755));
  std::random_device rd;
  std::mt19937 rng(rd());
  std::uniform_int_distribution<int> octet(1, 254);
  for (int attempt = 0; attempt < 64; attempt++) {
    const std::string block = fmt::format("127.{}.{}", octet(rng), octet(rng));
    const std::string claim = std::string(kClaims) + "/" + block;
    const int fd = ::open(claim.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) continue;
    const std::string text = dir + "\n";
    [[maybe_unused]] ssize_t w = ::write(fd, text.data(), text.size());
    ::close(fd);
    bool free = true;
    for (int i = 0; i < hosts + 4 && free; i++)
      for (int port : {2379, 2380})
        free = free && Bindable(fmt::format("{}.{}", block, kFirstHost + i), port);
    if (free) return block;
    ::unlink(claim.c_str());
  }
  return MakeError(Code::kUnavailable, "lab", "no free address block in 127.0.0.0/8 (64 tries)");
}

void ReleaseBlock(const std::string& block) {
  if (!block.empty()) ::unlink((std::string(kClaims) + "/" + block).c_str());
}

Result<void> CopyFile(const std::string& from, const std::string& to, mode_t mode) {
  const std::string data = CPR_TRY(ReadFileLimited(from, 1 << 20));
  return WriteFileAtomic(to, data, mode);
}

Result<void> RemoveTree(const std::string& path) {
  auto rm = [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); };
  if (::nftw(path.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    return MakeError(Code::kIo, path, "cannot remove: " + Errno());
  return {};
}

std::string RunnerPidFile(const std::string& root) { return root + "/var/run/cpr-runner.pid"; }

// `self lab runner --root R`, detached (a session of its own), its output
// in R/var/log/cpr-runner.log.
Result<int> SpawnRunner(const std::string& self, const std::string& root) {
  CPR_RETURN_IF_ERROR(MakeDirs(root + "/var/log", 0755));
  CPR_RETURN_IF_ERROR(MakeDirs(root + "/var/run", 0755));
  const pid_t pid = CPR_TRY(SpawnDetached({self,
                                           {self, "lab", "runner", "--root", root},
                                           std::nullopt,
                                           "",
                                           root + "/var/log/cpr-runner.log"}));
  CPR_RETURN_IF_ERROR(WriteFileAtomic(RunnerPidFile(root), std::to_string(pid) + "\n", 0600));
  return static_cast<int>(pid);
}

std::vector<int> PodPids(const std::string& root) {
  std::vector<int> out;
  const host::Host h(root);
  if (DIR* d = ::opendir(h.pod_pids().c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (!n.ends_with(".pid")) continue;
      auto text = ReadFileLimited(h.pod_pids() + "/" + n, 64);
      if (!text) continue;
      try {
        out.push_back(std::stoi(*text));
      } catch (...) {
      }
    }
    ::closedir(d);
  }
  return out;
}

// After a kill: the runner is dead and reaped nothing, so its PID files
// are stale.
void ForgetPodPids(const std::string& root) {
  const host::Host h(root);
  if (DIR* d = ::opendir(h.pod_pids().c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string(e->d_name).ends_with(".pid"))
        ::unlink((h.pod_pids() + "/" + e->d_name).c_str());
    ::closedir(d);
  }
}

// A placeholder control-plane pod with its static-pod-resources revision
// (OpenShift layout: <component>-pod-<N>/ holds the pod yaml and its
// config), the manifest a copy of the revision's pod yaml.
Result<void> PlaceholderPod(const host::Host& h, const std::string& component, int revision) {
  const std::string rev_dir = h.resources() + fmt::format("/{}-pod-{}", component, revision);
  CPR_RETURN_IF_ERROR(MakeDirs(rev_dir + "/configmaps/config", 0755));
  CPR_RETURN_IF_ERROR(WriteFileAtomic(
      rev_dir + "/configmaps/config/config.yaml",
      fmt::format("apiVersion: v1\nkind: {}Config\n# lab placeholder, revision {}\n", component,
                  revision),
      0644));
  host::PodManifest pod;
  pod.name = component;
  pod.namespace_ = "openshift-" + component;
  pod.image = "placeholder (sleep)";
  pod.labels = {{"app", component}, {"revision", std::to_string(revision)}};
  pod.command = {"sleep", "2147483647"};
  pod.env = {{"CONFIG", rev_dir + "/configmaps/config/config.yaml"}};
  pod.volumes = {{"resource-dir", rev_dir}};
  CPR_RETURN_IF_ERROR(host::WritePodManifest(rev_dir + "/" + component + "-pod.yaml", pod));
  return host::WritePodManifest(h.manifests() + "/" + component + "-pod.yaml", pod);
}

Result<void> SetUpHost(const Lab& lab, const LabHost& lh) {
  const host::Host h(lh.root);
  for (const auto& d : {h.manifests(), h.resources(), h.etcd_certs(), h.state(), h.Path("var/lib"),
                        h.pod_pids(), h.pod_logs()})
    CPR_RETURN_IF_ERROR(MakeDirs(d, 0700));
  // The member's certificates, as OpenShift keeps them in /etc/ssl/etcd.
  const pki::EtcdPkiPaths p{lab.pki};
  CPR_RETURN_IF_ERROR(CopyFile(p.CaCert(), h.etcd_certs() + "/ca.crt", 0644));
  CPR_RETURN_IF_ERROR(CopyFile(p.MetricCaCert(), h.etcd_certs() + "/metric-ca.crt", 0644));
  for (auto profile : {pki::Profile::kPeer, pki::Profile::kServer, pki::Profile::kMetrics}) {
    const std::string stem = pki::GetProfile(profile).file_stem;
    CPR_RETURN_IF_ERROR(
        CopyFile(p.LeafCert(lh.name, profile), h.etcd_certs() + "/" + stem + ".crt", 0644));
    CPR_RETURN_IF_ERROR(
        CopyFile(p.LeafKey(lh.name, profile), h.etcd_certs() + "/" + stem + ".key", 0600));
  }
  // static-pod-resources: 4.3's etcd-member folder and three control-plane revisions.
  CPR_RETURN_IF_ERROR(MakeDirs(h.resources() + "/etcd-member", 0755));
  CPR_RETURN_IF_ERROR(CopyFile(p.CaCert(), h.resources() + "/etcd-member/ca.crt", 0644));
  CPR_RETURN_IF_ERROR(PlaceholderPod(h, "kube-apiserver", 3));
  CPR_RETURN_IF_ERROR(PlaceholderPod(h, "kube-controller-manager", 2));
  CPR_RETURN_IF_ERROR(PlaceholderPod(h, "kube-scheduler", 2));
  // A pod a restore leaves running (seed §3.2: keepalived, haproxy, ...).
  host::PodManifest haproxy;
  haproxy.name = "haproxy";
  haproxy.namespace_ = "openshift-kni-infra";
  haproxy.image = "placeholder (sleep)";
  haproxy.command = {"sleep", "2147483647"};
  CPR_RETURN_IF_ERROR(host::WritePodManifest(h.manifests() + "/haproxy.yaml", haproxy));
  host::EtcdMemberSpec spec;
  spec.name = lh.name;
  spec.ip = lh.ip;
  spec.data_dir = h.data_dir();
  spec.cert_dir = h.etcd_certs();
  spec.initial_cluster = lab.InitialCluster();
  spec.initial_cluster_token = lab.token;
  return host::WritePodManifest(h.manifests() + "/etcd-member.yaml",
                                host::EtcdMemberManifest(spec));
}

Result<void> Save(const Lab& lab) {
  Json j = Json::parse(lab.ToJson());
  j["block"] = lab.block;
  j["token"] = lab.token;
  for (size_t i = 0; i < lab.hosts.size(); i++)
    j["hosts"][i]["runner_pid"] = lab.hosts[i].runner_pid;
  return WriteFileAtomic(lab.dir + "/lab.json", j.dump(2) + "\n", 0600);
}

client::TlsFiles AdminTls(const Lab& lab) {
  return client::TlsFiles{lab.CaCert(), lab.AdminCert(), lab.AdminKey()};
}

// Every host as a Node object, as kube-apiserver stores it
// (/registry/minions/<name>: k8s/node.h), in one transaction.
Result<void> RegisterNodes(const Lab& lab) {
  client::Config cfg;
  const client::Endpoint first =
      CPR_TRY(client::ParseEndpoint(lab.hosts[0].ClientUrl(), "endpoint"));
  cfg.endpoints = {first};
  cfg.tls = AdminTls(lab);
  cfg.command_timeout = std::chrono::seconds(30);
  auto c = CPR_TRY(client::Client::Create(cfg));
  client::TxnRequest txn;
  int n = 0;
  for (const auto* group : {&lab.hosts, &lab.workers})
    for (const auto& h : *group) {
      const k8s::NodeAddresses node{h.name, {{"InternalIP", h.ip}, {"Hostname", h.name}}};
      const std::string uid = fmt::format("00000000-0000-4000-8000-{:012x}", ++n);
      txn.success.push_back(
          client::PutRequest{"/registry/minions/" + h.name, k8s::EncodeNode(node, uid)});
    }
  CPR_TRY(c->Txn(txn));
  return {};
}

Result<void> StopHost(const LabHost& h, bool graceful) {
  std::vector<int> pids = PodPids(h.root);
  if (graceful && Alive(h.runner_pid)) {
    ::kill(h.runner_pid, SIGTERM);  // the runner stops its pods first
    WaitDead({h.runner_pid}, std::chrono::seconds(15));
  }
  if (Alive(h.runner_pid)) ::kill(h.runner_pid, SIGKILL);
  for (int p : pids)
    if (Alive(p)) {
      ::kill(-p, SIGKILL);  // the pod's process group
      ::kill(p, SIGKILL);
    }
  pids.push_back(h.runner_pid);
  if (!WaitDead(pids, std::chrono::seconds(10)))
    return MakeError(Code::kUnavailable, h.name, "a process of the host would not die");
  return {};
}

}  // namespace

std::string Lab::InitialCluster() const {
  std::string out;
  for (const auto& h : hosts) out += (out.empty() ? "" : ",") + h.name + "=" + h.PeerUrl();
  return out;
}

const LabHost* Lab::Find(const std::string& name) const {
  for (const auto& h : hosts)
    if (h.name == name) return &h;
  return nullptr;
}

std::string Lab::ToJson() const {
  Json hs = Json::array();
  for (const auto& h : hosts)
    hs.push_back({{"name", h.name},
                  {"ip", h.ip},
                  {"root", h.root},
                  {"client_url", h.ClientUrl()},
                  {"peer_url", h.PeerUrl()}});
  Json ws = Json::array();
  for (const auto& w : workers)
    ws.push_back({{"name", w.name}, {"ip", w.ip}, {"root", w.root}, {"node", w.name}});
  Json j{{"dir", dir},
         {"pki", pki},
         {"initial_cluster", InitialCluster()},
         {"admin", {{"cacert", CaCert()}, {"cert", AdminCert()}, {"key", AdminKey()}}},
         {"hosts", hs},
         {"workers", ws}};
  return j.dump();
}

Result<Lab> Load(const std::string& dir) {
  const std::string path = dir + "/lab.json";
  const std::string text = CPR_TRY(ReadFileLimited(path, 1 << 20));
  Lab lab;
  try {
    const Json j = Json::parse(text);
    lab.dir = j.at("dir");
    lab.pki = j.at("pki");
    lab.block = j.value("block", "");
    lab.token = j.value("token", "");
    for (const auto& h : j.at("hosts"))
      lab.hosts.push_back({h.at("name"), h.at("ip"), h.at("root"), h.value("runner_pid", 0)});
    if (j.contains("workers"))
      for (const auto& w : j.at("workers"))
        lab.workers.push_back({w.at("name"), w.at("ip"), w.at("root"), 0});
  } catch (const std::exception& e) {
    return MakeError(Code::kCorrupt, path, std::string("not a lab state file: ") + e.what());
  }
  return lab;
}

Result<Lab> Up(const UpOptions& o) {
  if (o.masters < 1 || o.masters > 9)
    return MakeError(Code::kInvalidArgument, "--masters", "must be 1..9");
  if (o.workers < 0 || o.workers > 9)
    return MakeError(Code::kInvalidArgument, "--workers", "must be 0..9");
  char abs[PATH_MAX];
  CPR_RETURN_IF_ERROR(MakeDirs(o.dir, 0700));
  if (::realpath(o.dir.c_str(), abs) == nullptr)
    return MakeError(Code::kIo, o.dir, "cannot resolve: " + Errno());
  Lab lab;
  lab.dir = abs;
  if (Exists(lab.dir + "/lab.json"))
    return MakeError(Code::kFailedPrecondition, lab.dir, "a lab already lives here",
                     "`cpr lab down --dir " + lab.dir + "` first, or choose another --dir");
  lab.pki = lab.dir + "/pki";
  lab.block = CPR_TRY(ClaimBlock(lab.dir, o.masters));
  lab.token = "cpr-lab-" + lab.block.substr(4);
  for (int i = 0; i < o.masters; i++) {
    const std::string name = fmt::format("m{}", i + 1);
    lab.hosts.push_back(
        {name, fmt::format("{}.{}", lab.block, kFirstHost + i), lab.dir + "/" + name, 0});
  }
  for (int i = 0; i < o.workers; i++) {
    const std::string name = fmt::format("w{}", i + 1);
    lab.workers.push_back(
        {name, fmt::format("{}.{}", lab.block, kFirstWorker + i), lab.dir + "/" + name, 0});
  }
  auto fail = [&](Error e) {
    for (const auto& h : lab.hosts) (void)StopHost(h, false);
    ReleaseBlock(lab.block);
    return e;
  };
  pki::InitOptions po;
  po.dir = lab.pki;
  for (const auto& h : lab.hosts) po.hosts.push_back({h.name, {h.ip}});
  if (o.cert_validity_seconds > 0) {
    auto& v = po.validity;
    v.peer = v.server = v.metric = v.admin = o.cert_validity_seconds;
  }
  if (auto r = pki::InitEtcdPki(po); !r) return fail(r.error());
  // The Kubernetes CAs, for the recovery API (kubeconfig recover, kubelet CSRs).
  if (auto r = pki::InitKubeCas(lab.pki, po.key, po.validity.ca, std::time(nullptr)); !r)
    return fail(r.error());
  for (const auto& w : lab.workers)
    for (const auto& d : {w.root + "/var/lib/kubelet/pki", w.root + "/etc/kubernetes"})
      if (auto r = MakeDirs(d, 0700); !r) return fail(r.error());
  for (auto& h : lab.hosts) {
    if (auto r = SetUpHost(lab, h); !r) return fail(r.error());
    auto pid = SpawnRunner(o.self, h.root);
    if (!pid) return fail(pid.error());
    h.runner_pid = *pid;
  }
  if (auto r = Save(lab); !r) return fail(r.error());
  for (const auto& h : lab.hosts) {
    auto ok = procedures::WaitLinearizableRead(h.ClientUrl(), AdminTls(lab),
                                               std::chrono::seconds(o.timeout_seconds));
    if (!ok) {
      const std::string log = host::Host(h.root).pod_logs() + "/etcd-member.log";
      return fail(MakeError(Code::kUnavailable, h.name,
                            "etcd did not serve: " + ok.error().ToString(), "see " + log));
    }
  }
  if (auto r = RegisterNodes(lab); !r) return fail(r.error());
  return lab;
}

Result<std::vector<HostStatus>> Status(const std::string& dir) {
  const Lab lab = CPR_TRY(Load(dir));
  std::vector<HostStatus> out;
  for (const auto& h : lab.hosts) {
    HostStatus s{h.name, h.ip, Alive(h.runner_pid), {}, {}, false};
    const host::Host hh(h.root);
    if (DIR* d = ::opendir(hh.manifests().c_str())) {
      while (dirent* e = ::readdir(d))
        if (std::string(e->d_name).ends_with(".yaml")) s.pods.push_back(e->d_name);
      ::closedir(d);
    }
    std::sort(s.pods.begin(), s.pods.end());
    for (const auto& pod : s.pods) {
      const std::string stem = pod.substr(0, pod.rfind('.'));
      auto text = ReadFileLimited(hh.pod_pids() + "/" + stem + ".pid", 64);
      if (text && Alive(std::atoi(text->c_str()))) s.running.push_back(stem);
    }
    s.etcd_answers = host::TcpAnswers(h.ClientUrl(), 200);
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

// After a kill: when the hosts still up hold a quorum of the hosts that run
// etcd, waits (bounded) until they agree on a leader among themselves, so
// what runs next meets a settled cluster, not an election in progress
// ("etcdserver: leader changed"), whatever the machine's speed.
void WaitSettled(const Lab& lab) {
  std::vector<const LabHost*> up;
  size_t members = 0;
  for (const auto& h : lab.hosts) {
    if (!Exists(host::Host(h.root).manifests() + "/etcd-member.yaml")) continue;
    members++;
    if (Alive(h.runner_pid) && host::TcpAnswers(h.ClientUrl(), 200)) up.push_back(&h);
  }
  if (up.empty() || up.size() * 2 <= members) return;  // no quorum: nothing to settle
  client::Config cfg;
  for (const auto* h : up) {
    auto ep = client::ParseEndpoint(h->ClientUrl(), "endpoint");
    if (ep) cfg.endpoints.push_back(*ep);
  }
  cfg.tls = AdminTls(lab);
  cfg.dial_timeout = std::chrono::milliseconds(500);
  cfg.command_timeout = std::chrono::seconds(1);
  auto c = client::Client::Create(cfg);
  if (!c) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    std::set<uint64_t> leaders, ids;
    bool all = true;
    for (const auto* h : up) {
      auto st = (*c)->Status(h->ClientUrl());
      if (!st || st->leader == 0) {
        all = false;
        break;
      }
      leaders.insert(st->leader);
      ids.insert(st->header.member_id);
    }
    if (all && leaders.size() == 1 && ids.count(*leaders.begin()) == 1) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

Result<void> Kill(const std::string& dir, const std::string& name) {
  const Lab lab = CPR_TRY(Load(dir));
  const LabHost* h = lab.Find(name);
  if (h == nullptr) return MakeError(Code::kInvalidArgument, name, "no such lab host");
  CPR_RETURN_IF_ERROR(StopHost(*h, /*graceful=*/false));
  // Its PIDs are dead: forget them, so no later signal reaches a reused PID.
  Lab after = lab;
  for (auto& x : after.hosts)
    if (x.name == name) x.runner_pid = 0;
  CPR_RETURN_IF_ERROR(Save(after));
  ForgetPodPids(h->root);
  WaitSettled(lab);
  return {};
}

Result<void> Stop(const std::string& dir, const std::string& name) {
  const Lab lab = CPR_TRY(Load(dir));
  const LabHost* h = lab.Find(name);
  if (h == nullptr) return MakeError(Code::kInvalidArgument, name, "no such lab host");
  CPR_RETURN_IF_ERROR(StopHost(*h, /*graceful=*/true));
  Lab after = lab;
  for (auto& x : after.hosts)
    if (x.name == name) x.runner_pid = 0;
  return Save(after);
}

Result<void> Start(const std::string& dir, const std::string& name, const std::string& self) {
  Lab lab = CPR_TRY(Load(dir));
  for (auto& h : lab.hosts) {
    if (h.name != name) continue;
    if (Alive(h.runner_pid))
      return MakeError(Code::kFailedPrecondition, name, "the host is up (its runner runs)");
    h.runner_pid = CPR_TRY(SpawnRunner(self, h.root));
    return Save(lab);
  }
  return MakeError(Code::kInvalidArgument, name, "no such lab host");
}

Result<LabHost> AddHost(const std::string& dir, const std::string& name, const std::string& self) {
  Lab lab = CPR_TRY(Load(dir));
  if (lab.Find(name) != nullptr)
    return MakeError(Code::kInvalidArgument, name, "the lab already has a host of that name");
  LabHost h{name, fmt::format("{}.{}", lab.block, kFirstHost + static_cast<int>(lab.hosts.size())),
            lab.dir + "/" + name, 0};
  const host::Host hh(h.root);
  for (const auto& d : {hh.manifests(), hh.resources(), hh.etcd_certs(), hh.state(),
                        hh.Path("var/lib"), hh.pod_pids(), hh.pod_logs()})
    CPR_RETURN_IF_ERROR(MakeDirs(d, 0700));
  h.runner_pid = CPR_TRY(SpawnRunner(self, h.root));
  lab.hosts.push_back(h);
  CPR_RETURN_IF_ERROR(Save(lab));
  return h;
}

Result<void> Down(const std::string& dir) {
  const Lab lab = CPR_TRY(Load(dir));
  // The folder removed is the one named, and only when its state file
  // says it is that lab (a copied lab.json must not take another lab down).
  char real[PATH_MAX];
  if (::realpath(dir.c_str(), real) == nullptr || lab.dir != real)
    return MakeError(Code::kFailedPrecondition, dir,
                     "its lab.json describes the lab in " + lab.dir + ", not this folder",
                     "run `cpr lab down --dir " + lab.dir + "`");
  std::vector<std::thread> threads;
  std::vector<Result<void>> results(lab.hosts.size());
  for (size_t i = 0; i < lab.hosts.size(); i++)
    threads.emplace_back([&, i] { results[i] = StopHost(lab.hosts[i], /*graceful=*/true); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) CPR_RETURN_IF_ERROR(r);
  ReleaseBlock(lab.block);
  return RemoveTree(lab.dir);
}

}  // namespace cpr::lab
