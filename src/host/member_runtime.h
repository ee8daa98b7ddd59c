// MemberRuntime: what runs the etcd member of a master host, as the restore
// procedures need it: the member's configuration read from the runtime's
// own files, Stop (bounded wait until gone) and Start. Three kinds:
//
//   static-pod  a kubelet runs etcd and the control plane from manifests
//               (static_pods.h; stop = manifests moved out, start = back)
//   systemd     Debian's etcd-server: etcd.service with
//               EnvironmentFile=-/etc/default/etcd (systemd_unit.cc)
//   process     a PID file; started again from the command line and
//               environment it had (pid_file.cc)
//
// Stop and Start are steps of a journaled procedure: whatever a runtime must
// know to redo them after a crash (which pods it stopped, the command line
// it will start again) it records through RuntimeJournal before it acts,
// so a re-run finishes the same stop or start, never a different one.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/etcd_config.h"
#include "host/host.h"
#include "util/result.h"

namespace cpr::host {

// The procedure's journal as a runtime sees it (procedures/steps.h:
// StepContext::Get/Set/Save): facts by key that survive a crash.
struct RuntimeJournal {
  std::function<std::string(const std::string&)> get;  // "" when unset
  std::function<void(const std::string&, std::string)> set;
  std::function<Result<void>()> save;  // persist now
};

struct StopOptions {
  std::chrono::milliseconds timeout{60'000};  // then kUnavailable
  // > 0: an etcd still holding its data dir that long after it was asked to
  // stop is SIGKILLed. For procedures whose next step replaces that data dir
  // anyway: an etcd without quorum that is leader waits seconds on SIGTERM
  // for a dead peer to take over, and a kill loses nothing (bbolt and the
  // WAL are crash-safe; the data dir is moved aside, not deleted).
  std::chrono::milliseconds kill_after{0};
};

class MemberRuntime {
 public:
  virtual ~MemberRuntime() = default;
  // "static-pod", "systemd" or "process".
  virtual std::string kind() const = 0;
  // What Stop and Start act on, as a step name's second word: "pods" for
  // static pods (the control plane goes with etcd), "etcd" otherwise.
  virtual std::string subject() const = 0;
  // One line each for the plan: what Stop and Start will do here.
  virtual std::string StopSummary() const = 0;
  virtual std::string StartSummary() const = 0;
  // The member as configured (reads only). `journal` holds what an earlier,
  // interrupted Stop recorded (the process runtime's command line, once
  // its process is gone); it may be empty.
  virtual Result<MemberConfig> Config(const RuntimeJournal& journal) const = 0;
  // Stops the member and waits (bounded) until it is gone. Safe to redo.
  virtual Result<void> Stop(RuntimeJournal& journal, const StopOptions& options,
                            const std::function<void(const std::string&)>& say) const = 0;
  // Starts what Stop stopped (does not wait for it to serve). Safe to redo.
  virtual Result<void> Start(RuntimeJournal& journal,
                             const std::function<void(const std::string&)>& say) const = 0;
  // Where etcd's output goes when CPR can read it ("" otherwise): the
  // report looks there for old members knocking.
  virtual std::string LogFile() const = 0;
};

enum class RuntimeKind { kAuto, kStaticPod, kSystemd, kProcess };
// "auto", "static-pod", "systemd", "process"; false for anything else.
bool ParseRuntimeKind(const std::string& text, RuntimeKind* kind);
std::string RuntimeKindName(RuntimeKind kind);

struct RuntimeOptions {
  RuntimeKind kind = RuntimeKind::kAuto;
  std::string pid_file;  // --pid-file, under the root (process)
};

// What `auto` picks on `host`: static-pod when its manifests folder (or
// manifests-stopped/, after an interrupted stop) holds an etcd manifest;
// else systemd when etc/default/etcd exists and the etcd unit is known (a
// unit file under the root, or CPR_SYSTEMCTL set); else process when a PID
// file is given. Otherwise kNotFound naming what was looked for.
Result<RuntimeKind> ChooseRuntime(const Host& host, const RuntimeOptions& options);
// The runtime `options` names on `host` (auto resolved as above).
Result<std::unique_ptr<MemberRuntime>> OpenRuntime(const Host& host, const RuntimeOptions& options);

std::unique_ptr<MemberRuntime> NewStaticPodRuntime(const Host& host);
std::unique_ptr<MemberRuntime> NewSystemdRuntime(const Host& host);
std::unique_ptr<MemberRuntime> NewProcessRuntime(const Host& host, const std::string& pid_file);

// True while an etcd holds the data dir (member/snap/db flocked).
bool DataDirLocked(const std::string& data_dir);

// Waits until the member is gone: no etcd holds its data dir, none of its
// listen URLs accepts a connection and `pid` (when > 0) has exited. With
// options.kill_after, the etcd processes still holding its db then are
// SIGKILLed. Returns what it did ("" or "killed PID n"); kUnavailable after
// options.timeout, as "<who> still runs N s after <asked>" with `hint`.
Result<std::string> WaitEtcdGone(const MemberConfig& member, pid_t pid, const StopOptions& options,
                                 const std::string& who, const std::string& asked,
                                 const std::string& hint);

}  // namespace cpr::host
