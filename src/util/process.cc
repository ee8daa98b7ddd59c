#include "util/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/atomic_file.h"

namespace cpr {
namespace {

std::string Errno() { return std::strerror(errno); }

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Reads `fd` until EOF or `deadline`; false on timeout. Keeps the last 4 KB.
bool Drain(int fd, std::chrono::steady_clock::time_point deadline, std::string& out) {
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > 4096) out.erase(0, out.size() - 4096);
  }
}

}  // namespace

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout) {
  if (argv.empty()) return MakeError(Code::kInvalidArgument, "command", "no program");
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return MakeError(Code::kIo, argv[0], "pipe: " + Errno());
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return MakeError(Code::kIo, argv[0], "pipe: " + Errno());
  }
  auto args = CStrings(argv);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::execvp(args[0], args.data());
    const int e = errno;  // the parent learns it through the error pipe
    (void)!::write(err[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    return MakeError(Code::kIo, argv[0], "fork: " + Errno());
  }
  CommandResult r;
  const bool finished = Drain(out[0], std::chrono::steady_clock::now() + timeout, r.output);
  if (!finished) ::kill(pid, SIGKILL);
  int exec_errno = 0;
  const bool exec_failed = ::read(err[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (exec_failed)
    return MakeError(Code::kNotFound, argv[0],
                     "cannot run: " + std::string(std::strerror(exec_errno)));
  if (!finished)
    return MakeError(
        Code::kUnavailable, argv[0],
        "still running after " + std::to_string(timeout.count() / 1000) + " s: killed");
  r.exit_code = ExitCode(status);
  return r;
}

Result<pid_t> SpawnDetached(const DetachedSpawn& s) {
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls (CPR may have threads).
  auto argv = CStrings(s.argv);
  std::vector<std::string> env_strings = s.env.value_or(std::vector<std::string>{});
  auto envp = CStrings(env_strings);
  int err[2];
  if (::pipe2(err, O_CLOEXEC) != 0) return MakeError(Code::kIo, s.exe, "pipe: " + Errno());
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    const int null = ::open("/dev/null", O_RDONLY);
    const int log = ::open(s.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null < 0 || log < 0 || ::dup2(null, 0) < 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0 ||
        (!s.cwd.empty() && ::chdir(s.cwd.c_str()) != 0)) {
      const int e = errno;
      (void)!::write(err[1], &e, sizeof e);
      ::_exit(127);
    }
    // The error pipe is close-on-exec: it closes by itself when exec works.
    ::close_range(3, static_cast<unsigned>(err[1]) - 1, 0);
    ::close_range(static_cast<unsigned>(err[1]) + 1, ~0U, 0);
    ::signal(SIGPIPE, SIG_DFL);
    if (s.env)
      ::execve(s.exe.c_str(), argv.data(), envp.data());
    else
      ::execv(s.exe.c_str(), argv.data());
    const int e = errno;
    (void)!::write(err[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(err[1]);
  if (pid < 0) {
    ::close(err[0]);
    return MakeError(Code::kIo, s.exe, "fork: " + Errno());
  }
  int e = 0;
  ssize_t n;
  while ((n = ::read(err[0], &e, sizeof e)) < 0 && errno == EINTR) {
  }
  ::close(err[0]);
  if (n == sizeof e) {
    ::waitpid(pid, nullptr, 0);
    return MakeError(Code::kIo, s.exe,
                     "cannot start (log " + s.log + ", cwd " + s.cwd + "): " + std::strerror(e));
  }
  return pid;
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  // /proc/PID/stat: "pid (comm) S ...": the state after the last ')'.
  auto stat = ReadFileLimited("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat) return true;  // no /proc: kill(0) is all there is
  const size_t close = stat->rfind(')');
  return close == std::string::npos || close + 2 >= stat->size() || (*stat)[close + 2] != 'Z';
}

std::string ProcessName(pid_t pid) {
  auto comm = ReadFileLimited("/proc/" + std::to_string(pid) + "/comm", 64);
  if (!comm) return "";
  while (!comm->empty() && comm->back() == '\n') comm->pop_back();
  return *comm;
}

std::vector<pid_t> EtcdProcessesHolding(const std::string& path) {
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
        const pid_t p = static_cast<pid_t>(std::stol(pid));
        if (ProcessName(p).rfind("etcd", 0) == 0) out.push_back(p);
        break;
      }
    }
    ::closedir(d);
  }
  ::closedir(proc);
  return out;
}

std::vector<std::string> SplitNul(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const size_t nul = s.find('\0');
    out.emplace_back(s.substr(0, nul));
    if (nul == std::string_view::npos) break;
    s.remove_prefix(nul + 1);
  }
  return out;
}

std::string JoinNul(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    out += p;
    out += '\0';
  }
  return out;
}

}  // namespace cpr
