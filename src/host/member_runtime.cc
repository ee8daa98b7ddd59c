#include "host/member_runtime.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "etcd/data_dir_state.h"
#include "host/probe.h"
#include "host/static_pods.h"
#include "util/process.h"

namespace cpr::host {
namespace {

bool Exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

// Where Debian (lib), other distributions (usr/lib) and an administrator
// (etc) put etcd.service.
bool SystemdUnitKnown(const Host& h) {
  if (std::getenv("CPR_SYSTEMCTL") != nullptr) return true;
  for (const char* dir : {"etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system"})
    if (Exists(h.Path(dir) + "/etcd.service")) return true;
  return false;
}

bool EtcdGone(const MemberConfig& m, pid_t pid) {
  if (ProcessAlive(pid)) return false;
  if (!m.data_dir.empty() && DataDirLocked(m.data_dir)) return false;
  for (const auto& url : m.listen_urls)
    if (TcpAnswers(url, 100)) return false;
  return true;
}

}  // namespace

bool ParseRuntimeKind(const std::string& text, RuntimeKind* kind) {
  for (auto k :
       {RuntimeKind::kAuto, RuntimeKind::kStaticPod, RuntimeKind::kSystemd, RuntimeKind::kProcess})
    if (text == RuntimeKindName(k)) {
      *kind = k;
      return true;
    }
  return false;
}

std::string RuntimeKindName(RuntimeKind kind) {
  switch (kind) {
    case RuntimeKind::kAuto:
      return "auto";
    case RuntimeKind::kStaticPod:
      return "static-pod";
    case RuntimeKind::kSystemd:
      return "systemd";
    case RuntimeKind::kProcess:
      return "process";
  }
  return "?";
}

Result<RuntimeKind> ChooseRuntime(const Host& h, const RuntimeOptions& o) {
  if (o.kind != RuntimeKind::kAuto) return o.kind;
  auto pod = StaticPods(h).Etcd();
  if (pod) return RuntimeKind::kStaticPod;
  if (pod.error().code != Code::kNotFound) return pod.error();  // a manifest CPR cannot read
  const std::string env_file = h.Path("etc/default/etcd");
  if (Exists(env_file) && SystemdUnitKnown(h)) return RuntimeKind::kSystemd;
  if (!o.pid_file.empty()) return RuntimeKind::kProcess;
  return MakeError(
      Code::kNotFound, "--runtime auto",
      fmt::format("no etcd runtime found under {}: no etcd manifest in {} (static pod), no {} with "
                  "an etcd.service unit (systemd), no --pid-file (process)",
                  h.root().empty() ? "/" : h.root(), h.manifests(), env_file),
      "is --root the master's root? otherwise pass --runtime static-pod|systemd|process "
      "(process needs --pid-file)");
}

Result<std::unique_ptr<MemberRuntime>> OpenRuntime(const Host& h, const RuntimeOptions& o) {
  switch (CPR_TRY(ChooseRuntime(h, o))) {
    case RuntimeKind::kStaticPod:
      return NewStaticPodRuntime(h);
    case RuntimeKind::kSystemd:
      return NewSystemdRuntime(h);
    case RuntimeKind::kProcess:
      if (o.pid_file.empty())
        return MakeError(Code::kInvalidArgument, "--runtime process",
                         "the process runtime needs --pid-file", "pass --pid-file FILE");
      return NewProcessRuntime(h, o.pid_file);
    case RuntimeKind::kAuto:
      break;
  }
  return MakeError(Code::kInternal, "--runtime", "auto not resolved");
}

bool DataDirLocked(const std::string& data_dir) { return etcd::DataDirLockedByEtcd(data_dir); }

Result<std::string> WaitEtcdGone(const MemberConfig& m, pid_t pid, const StopOptions& o,
                                 const std::string& who, const std::string& asked,
                                 const std::string& hint) {
  const auto started = std::chrono::steady_clock::now();
  std::string killed;
  while (!EtcdGone(m, pid)) {
    const auto now = std::chrono::steady_clock::now();
    if (killed.empty() && o.kill_after.count() > 0 && !m.data_dir.empty() &&
        now > started + o.kill_after) {
      for (pid_t holder : EtcdProcessesHolding(m.data_dir + "/member/snap/db")) {
        if (holder == ::getpid()) continue;
        ::kill(holder, SIGKILL);
        killed += (killed.empty() ? "" : ",") + std::to_string(holder);
      }
      if (!killed.empty()) killed = "etcd still up after " + asked + ": killed PID " + killed;
    }
    if (now > started + o.timeout)
      return MakeError(
          Code::kUnavailable, m.source,
          fmt::format("{} still runs {} s after {}", who,
                      std::chrono::duration_cast<std::chrono::seconds>(o.timeout).count(), asked),
          hint);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return killed;
}

}  // namespace cpr::host
