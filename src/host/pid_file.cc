// The process member runtime (member_runtime.h): an etcd known only by a
// PID file (--pid-file, under --root), as a hand-started or supervisor-less
// etcd is run.
//
// The PID is trusted only when /proc says it is an etcd ("etcd*" comm)
// holding the data dir its own command line names (its member/snap/db
// open): a PID file left behind, whose PID the kernel gave to another
// process, is never signalled. The config comes from that process's
// /proc/PID/cmdline, environ and cwd, read as etcd reads them.
//
// Stop journals the command line, environment, working directory and
// program (/proc/PID/exe) first, then SIGTERM, a bounded wait, SIGKILL after
// the grace; Start runs the same program again, detached (setsid), output to
// ROOT/var/log/cpr/etcd.log, and writes the new PID to the PID file
// atomically. After a stop the config is read from the journal.
//
// Journal: process_argv, process_env (base64 of NUL-separated lists: any
// bytes survive the JSON), process_cwd, process_exe, process_pid (the PID
// stopped), process_started_pid (the PID Start started). The journal is
// 0600 in a 0700 folder: etcd's environment may hold secrets.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include "host/member_runtime.h"
#include "util/atomic_file.h"
#include "util/process.h"
#include "util/text.h"

namespace cpr::host {
namespace {

struct Capture {
  std::vector<std::string> argv, env;
  std::string cwd, exe;
};

std::string ReadLink(const std::string& path) {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

MemberConfig ConfigOf(const Capture& c, const std::string& source) {
  const std::vector<std::string> args(c.argv.empty() ? c.argv.begin() : c.argv.begin() + 1,
                                      c.argv.end());
  return EtcdMemberConfig(args, EnvPairs(c.env), source, c.cwd.empty() ? "/" : c.cwd);
}

Result<Capture> CaptureProcess(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  Capture c;
  c.argv = SplitNul(CPR_TRY(ReadFileLimited(proc + "/cmdline", 1 << 20)));
  c.env = SplitNul(CPR_TRY(ReadFileLimited(proc + "/environ", 1 << 20)));
  c.cwd = ReadLink(proc + "/cwd");
  c.exe = ReadLink(proc + "/exe");
  // An etcd binary replaced since it started (an upgrade) shows so.
  if (c.exe.ends_with(" (deleted)")) c.exe.resize(c.exe.size() - 10);
  if (c.exe.empty() && !c.argv.empty() && c.argv[0].starts_with('/')) c.exe = c.argv[0];
  if (c.argv.empty() || c.exe.empty() || c.cwd.empty())
    return MakeError(Code::kFailedPrecondition, proc,
                     "cannot read the command line, program and working directory of etcd",
                     "run CPR as root (or as etcd's user)");
  return c;
}

void Record(RuntimeJournal& j, const Capture& c) {
  j.set("process_argv", Base64Encode(JoinNul(c.argv)));
  j.set("process_env", Base64Encode(JoinNul(c.env)));
  j.set("process_cwd", c.cwd);
  j.set("process_exe", c.exe);
}

std::optional<Capture> Recorded(const RuntimeJournal& j) {
  if (j.get("process_exe").empty()) return std::nullopt;
  auto argv = Base64Decode(j.get("process_argv"));
  auto env = Base64Decode(j.get("process_env"));
  if (!argv || !env) return std::nullopt;
  return Capture{SplitNul(*argv), SplitNul(*env), j.get("process_cwd"), j.get("process_exe")};
}

class ProcessRuntime final : public MemberRuntime {
 public:
  ProcessRuntime(Host h, const std::string& pid_file)
      : h_(std::move(h)), pid_file_(h_.Path(pid_file)) {}

  std::string kind() const override { return "process"; }
  std::string subject() const override { return "etcd"; }
  std::string StopSummary() const override {
    return fmt::format(
        "stop the etcd whose PID {} holds (checked: an etcd holding its data dir): its command "
        "line and environment journaled, SIGTERM, wait until gone",
        pid_file_);
  }
  std::string StartSummary() const override {
    return fmt::format(
        "start etcd again with the same command line and environment, detached, "
        "output to {}; its PID written to {}",
        LogFile(), pid_file_);
  }

  Result<MemberConfig> Config(const RuntimeJournal& j) const override {
    if (const pid_t pid = ReadPid(); Verified(pid))
      return ConfigOf(CPR_TRY(CaptureProcess(pid)), pid_file_);
    if (auto c = Recorded(j)) return ConfigOf(*c, pid_file_ + " (journaled at stop)");
    return NotRunning();
  }

  Result<void> Stop(RuntimeJournal& j, const StopOptions& o,
                    const std::function<void(const std::string&)>& say) const override {
    const pid_t pid = ReadPid();
    if (!Verified(pid)) {
      // A redo after a kill: stopped already, if no etcd holds the data dir.
      auto c = Recorded(j);
      if (!c) return NotRunning();
      const MemberConfig m = ConfigOf(*c, pid_file_);
      if (DataDirLocked(m.data_dir))
        return MakeError(
            Code::kFailedPrecondition, pid_file_,
            fmt::format("an etcd holds {} but not PID {} that the file names", m.data_dir, pid),
            "write that etcd's PID into the PID file, then re-run");
      say("etcd already stopped");
      return {};
    }
    const Capture c = CPR_TRY(CaptureProcess(pid));
    Record(j, c);  // before the signal: a kill after it still knows how to start etcd
    j.set("process_pid", std::to_string(pid));
    CPR_RETURN_IF_ERROR(j.save());
    ::kill(pid, SIGTERM);
    const std::string note =
        CPR_TRY(WaitEtcdGone(ConfigOf(c, pid_file_), pid, o, fmt::format("etcd PID {}", pid),
                             "SIGTERM", "kill it by hand, then re-run"));
    say(fmt::format("etcd PID {} gone{}", pid, note.empty() ? "" : " (" + note + ")"));
    return {};
  }

  Result<void> Start(RuntimeJournal& j,
                     const std::function<void(const std::string&)>& say) const override {
    const auto c = Recorded(j);
    if (!c)
      return MakeError(Code::kFailedPrecondition, pid_file_, "no etcd command line journaled",
                       "start etcd by hand");
    // A redo: the etcd a killed run started (it may not hold its db yet).
    const std::string db = ConfigOf(*c, pid_file_).data_dir + "/member/snap/db";
    std::vector<pid_t> running = EtcdProcessesHolding(db);
    if (const auto started = ParseInt64(j.get("process_started_pid"));
        started && ProcessAlive(static_cast<pid_t>(*started)) &&
        ProcessName(static_cast<pid_t>(*started)).starts_with("etcd"))
      running.push_back(static_cast<pid_t>(*started));
    if (!running.empty()) {
      say(fmt::format("etcd already running as PID {}", running[0]));
      return WritePid(running[0]);
    }
    CPR_RETURN_IF_ERROR(MakeDirs(DirName(LogFile()), 0700));
    const pid_t pid = CPR_TRY(SpawnDetached({c->exe, c->argv, c->env, c->cwd, LogFile()}));
    j.set("process_started_pid", std::to_string(pid));
    CPR_RETURN_IF_ERROR(j.save());
    CPR_RETURN_IF_ERROR(WritePid(pid));
    say(fmt::format("etcd started as PID {} (output in {})", pid, LogFile()));
    return {};
  }

  std::string LogFile() const override { return h_.Path("var/log/cpr/etcd.log"); }

 private:
  pid_t ReadPid() const {
    auto text = ReadFileLimited(pid_file_, 64);
    if (!text) return 0;
    auto words = SplitList(*text, '\n');
    auto n = words.empty() ? std::nullopt : ParseInt64(words[0]);
    return n && *n > 0 && *n <= INT_MAX ? static_cast<pid_t>(*n) : 0;
  }

  // An etcd that holds the data dir its own command line names.
  bool Verified(pid_t pid) const {
    if (!ProcessAlive(pid) || !ProcessName(pid).starts_with("etcd")) return false;
    auto c = CaptureProcess(pid);
    if (!c) return false;
    const auto holders = EtcdProcessesHolding(ConfigOf(*c, pid_file_).data_dir + "/member/snap/db");
    return std::find(holders.begin(), holders.end(), pid) != holders.end();
  }

  Error NotRunning() const {
    return MakeError(Code::kFailedPrecondition, pid_file_,
                     fmt::format("names no running etcd that holds its data dir (PID {}{})",
                                 ReadPid(), ReadPid() > 0 ? ": " + ProcessName(ReadPid()) : ""),
                     "the process runtime starts etcd again from the command line of the "
                     "running one: start etcd and write its PID into this file, or pass "
                     "--runtime systemd|static-pod");
  }

  Result<void> WritePid(pid_t pid) const {
    CPR_RETURN_IF_ERROR(MakeDirs(DirName(pid_file_), 0755));
    return WriteFileAtomic(pid_file_, std::to_string(pid) + "\n", 0644);
  }

  Host h_;
  std::string pid_file_;
};

}  // namespace

std::unique_ptr<MemberRuntime> NewProcessRuntime(const Host& host, const std::string& pid_file) {
  return std::make_unique<ProcessRuntime>(host, pid_file);
}

}  // namespace cpr::host
