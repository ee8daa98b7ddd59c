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

#include "host/probe.h"
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

bool StaticPods::DataDirLocked(const std::string& data_dir) {
  const int fd = ::open((data_dir + "/member/snap/db").c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  const bool locked = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return locked;
}

namespace {

// etcd processes that have the file `path` open (a scan of /proc/*/fd,
// matching device and inode, so a process in another mount namespace with
// a file of the same name is never taken for it).
std::vector<pid_t> Holders(const std::string& path) {
  std::vector<pid_t> out;
  struct stat want {};
  if (::stat(path.c_str(), &want) != 0) return out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = ::readdir(proc)) {
    const std::string pid = e->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string fds = "/proc/" + pid + "/fd";
    DIR* d = ::opendir(fds.c_str());
    if (d == nullptr) continue;
    while (dirent* f = ::readdir(d)) {
      struct stat st {};
      const std::string link = fds + "/" + f->d_name;
      if (::stat(link.c_str(), &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino) {
        auto comm = ReadFileLimited("/proc/" + pid + "/comm", 64);
        if (comm && comm->rfind("etcd", 0) == 0) out.push_back(static_cast<pid_t>(std::stol(pid)));
        break;
      }
    }
    ::closedir(d);
  }
  ::closedir(proc);
  return out;
}

}  // namespace

Result<std::string> StaticPods::WaitGone(const PodFile& p, std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds kill_etcd_after) const {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + timeout;
  std::string killed;
  const std::string stem = p.file.substr(0, p.file.rfind('.'));
  const pid_t pid = RecordedPid(host_.pod_pids() + "/" + stem + ".pid");
  // The lab's runner removes a pod's PID file once it reaped it: no file in
  // its folder means gone. A real kubelet keeps no such folder.
  const bool watched = pid > 0 || Exists(host_.pod_pids());
  auto gone = [&] {
    if (pid > 0 && ::kill(pid, 0) == 0) return false;
    if (p.pod.RunsEtcd()) {
      const std::string data = p.pod.Flag("--data-dir");
      if (!data.empty() && DataDirLocked(data)) return false;
      for (const auto& flag : {"--listen-client-urls", "--listen-peer-urls"}) {
        const std::string urls = p.pod.Flag(flag);
        for (size_t at = 0; at < urls.size();) {
          size_t comma = urls.find(',', at);
          if (comma == std::string::npos) comma = urls.size();
          if (TcpAnswers(urls.substr(at, comma - at), 100)) return false;
          at = comma + 1;
        }
      }
    }
    return true;
  };
  while (!gone()) {
    const std::string data = p.pod.Flag("--data-dir");
    if (p.pod.RunsEtcd() && killed.empty() && kill_etcd_after.count() > 0 && !data.empty() &&
        std::chrono::steady_clock::now() > started + kill_etcd_after) {
      for (pid_t holder : Holders(data + "/member/snap/db")) {
        if (holder == ::getpid()) continue;
        ::kill(holder, SIGKILL);
        killed += (killed.empty() ? "" : ",") + std::to_string(holder);
      }
      if (!killed.empty()) killed = "etcd still up after its manifest left: killed PID " + killed;
    }
    if (std::chrono::steady_clock::now() > deadline)
      return MakeError(
          Code::kUnavailable, p.file,
          fmt::format("pod {} still runs {} s after its manifest was moved out", p.pod.name,
                      std::chrono::duration_cast<std::chrono::seconds>(timeout).count()),
          "is the kubelet running? stop the pod by hand, then re-run");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!watched && !p.pod.RunsEtcd()) return std::string("no PID to watch (the kubelet stops it)");
  return killed;
}

}  // namespace cpr::host
