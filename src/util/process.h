// Processes CPR runs or watches: a command run to completion (systemctl), a
// daemon started detached from CPR (the lab's runner; an etcd started again
// from the command line it had), and what /proc says about a PID.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace cpr {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when it died of one
  std::string output;  // stdout and stderr, the last 4 KB
};
// Runs argv (argv[0] searched in PATH, CPR's environment) with stdin from
// /dev/null and waits for it. A command still running after `timeout` is
// SIGKILLed and reported as kUnavailable; one that cannot be executed as
// kNotFound. A non-zero exit is a result, not an error.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout);

struct DetachedSpawn {
  std::string exe;                              // the program (a path: PATH is not searched)
  std::vector<std::string> argv;                // argv[0] included
  std::optional<std::vector<std::string>> env;  // "K=V" each; nullopt: CPR's own
  std::string cwd;                              // "" : CPR's own
  std::string log;                              // stdout and stderr appended here (0600)
};
// Starts a daemon that outlives CPR: fork, setsid (no controlling terminal,
// no signal from CPR's session), stdin /dev/null, stdout/stderr to the
// log, every other descriptor closed (a caller's pipe is never held open),
// exec. Returns its PID once the exec succeeded; an exec that fails is an
// error naming the program. The process stays CPR's child until CPR exits
// (ProcessAlive counts it gone once it exits, unreaped).
Result<pid_t> SpawnDetached(const DetachedSpawn& spawn);

// True while `pid` runs; false once it exited, even as an unreaped zombie.
bool ProcessAlive(pid_t pid);
// /proc/PID/comm (the kernel's 15-byte name) without its newline; "" if gone.
std::string ProcessName(pid_t pid);
// The PIDs of processes named like etcd ("etcd*" in /proc/PID/comm) that
// have the file `path` open (matched by device and inode, so a file of the
// same name in another mount namespace is never taken for it).
std::vector<pid_t> EtcdProcessesHolding(const std::string& path);

// "a\0b\0" -> {"a", "b"}: /proc/PID/cmdline and /proc/PID/environ.
std::vector<std::string> SplitNul(std::string_view s);
std::string JoinNul(const std::vector<std::string>& parts);

}  // namespace cpr
