#include "host/static_pods.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <thread>

#include "host/member_runtime.h"
#include "util/atomic_file.h"

namespace cpr::host {
namespace {

bool Exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

std::vector<std::string> YamlFiles(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 5 && (n.ends_with(".yaml") || n.ends_with(".yml"))) out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<void> MoveFile(const std::string& from, const std::string& to_dir, const std::string& file) {
  CPR_RETURN_IF_ERROR(MakeDirs(to_dir, 0700));
  const std::string to = to_dir + "/" + file;
  if (::rename(from.c_str(), to.c_str()) != 0)
    return MakeError(Code::kIo, from, "cannot move to " + to + ": " + std::strerror(errno));
  CPR_RETURN_IF_ERROR(FsyncDir(to_dir));
  return FsyncDir(DirName(from));
}

// The PID the lab's runner recorded for a pod; 0 when none.
pid_t RecordedPid(const std::string& pid_file) {
  auto text = ReadFileLimited(pid_file, 64);
  if (!text) return 0;
  try {
    return static_cast<pid_t>(std::stol(*text));
  } catch (...) {
    return 0;
  }
}

}  // namespace

bool IsControlPlanePod(const PodManifest& pod) {
  if (pod.RunsEtcd()) return true;
  for (const char* c : {"kube-apiserver", "kube-controller-manager", "kube-scheduler"})
    if (pod.name.rfind(c, 0) == 0) return true;
  return false;
}

Result<std::vector<PodFile>> StaticPods::List() const {
  std::vector<PodFile> out;
  for (bool stopped : {false, true}) {
    const std::string dir = stopped ? host_.stopped_manifests() : host_.manifests();
    for (const auto& f : YamlFiles(dir)) {
      PodFile p{f, CPR_TRY(ReadPodManifest(dir + "/" + f)), stopped};
      out.push_back(std::move(p));
    }
  }
  return out;
}

Result<PodFile> StaticPods::Etcd() const {
  for (auto& p : CPR_TRY(List()))
    if (p.pod.RunsEtcd()) return p;
  return MakeError(Code::kNotFound, host_.manifests(), "no etcd static pod manifest here",
                   "is --root the master's root? (its manifests folder holds etcd-member.yaml)");
}

Result<void> StaticPods::Stop(const std::string& file) const {
  const std::string from = host_.manifests() + "/" + file;
  if (!Exists(from)) return {};
  return MoveFile(from, host_.stopped_manifests(), file);
}

Result<void> StaticPods::Start(const std::string& file) const {
  const std::string from = host_.stopped_manifests() + "/" + file;
  if (!Exists(from)) {
    if (Exists(host_.manifests() + "/" + file)) return {};
    return MakeError(Code::kNotFound, from, "no stopped manifest to start");
  }
  return MoveFile(from, host_.manifests(), file);
}

Result<std::string> StaticPods::WaitGone(const PodFile& p, std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds kill_etcd_after) const {
  const std::string stem = p.file.substr(0, p.file.rfind('.'));
  const pid_t pid = RecordedPid(host_.pod_pids() + "/" + stem + ".pid");
  const std::string asked = "its manifest left";
  const std::string hint = "is the kubelet running? stop the pod by hand, then re-run";
  if (p.pod.RunsEtcd())
    return WaitEtcdGone(PodMemberConfig(p), pid, {timeout, kill_etcd_after}, "pod " + p.pod.name,
                        asked, hint);
  // The lab's runner removes a pod's PID file once it reaped it: no file in
  // its folder means gone. A real kubelet keeps no such folder.
  if (pid <= 0 && !Exists(host_.pod_pids()))
    return std::string("no PID to watch (the kubelet stops it)");
  MemberConfig none;
  none.source = p.file;
  return WaitEtcdGone(none, pid, {timeout, {}}, "pod " + p.pod.name, asked, hint);
}

MemberConfig StaticPods::PodMemberConfig(const PodFile& p) const {
  MemberConfig m =
      EtcdMemberConfig(p.pod.command, p.pod.env,
                       (p.stopped ? host_.stopped_manifests() : host_.manifests()) + "/" + p.file);
  if (m.data_dir.empty()) m.data_dir = host_.data_dir();
  return m;
}

}  // namespace cpr::host
