#include "lab/runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "host/host.h"
#include "host/pod_manifest.h"
#include "util/atomic_file.h"

extern char** environ;

namespace cpr::lab {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(20);
constexpr auto kRestartDelay = std::chrono::milliseconds(200);
constexpr auto kStopGrace = std::chrono::seconds(10);

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Pod {
  std::string text;                   // the manifest as started: a change restarts the pod
  pid_t pid = 0;                      // 0: not running
  Clock::time_point stop_deadline{};  // set while stopping
  Clock::time_point start_after{};    // restart delay after a death
};

void Log(const std::string& line) {
  std::fprintf(stderr, "[runner %ld] %s\n", static_cast<long>(::time(nullptr)), line.c_str());
}

std::vector<std::string> ManifestFiles(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 5 && n.ends_with(".yaml")) out.push_back(n);
    }
    ::closedir(d);
  }
  return out;
}

std::string Stem(const std::string& file) { return file.substr(0, file.rfind('.')); }

class Runner {
 public:
  explicit Runner(const std::string& root) : host_(root) {}

  int Run() {
    (void)MakeDirs(host_.pod_pids(), 0700);
    (void)MakeDirs(host_.pod_logs(), 0700);
    while (!g_stop) {
      Reap();
      Reconcile();
      std::this_thread::sleep_for(kPoll);
    }
    StopAll();
    return 0;
  }

 private:
  void Reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      for (auto& [file, pod] : pods_) {
        if (pod.pid != pid) continue;
        Log(file + ": pid " + std::to_string(pid) + " exited");
        pod.pid = 0;
        pod.stop_deadline = {};
        pod.start_after = Clock::now() + kRestartDelay;
        ::unlink(PidFile(file).c_str());
      }
    }
  }

  void Reconcile() {
    std::map<std::string, std::string> want;  // file -> text
    for (const auto& f : ManifestFiles(host_.manifests())) {
      auto text = ReadFileLimited(host_.manifests() + "/" + f, 1 << 20);
      if (text) want[f] = *text;
    }
    const auto now = Clock::now();
    for (auto it = pods_.begin(); it != pods_.end();) {
      auto w = want.find(it->first);
      Pod& pod = it->second;
      const bool wanted = w != want.end() && w->second == pod.text;
      if (!wanted && pod.pid > 0) {
        if (pod.stop_deadline == Clock::time_point{}) {
          Log(it->first + ": manifest " + (w == want.end() ? "gone" : "changed") + ", stopping");
          ::kill(-pod.pid, SIGTERM);
          pod.stop_deadline = now + kStopGrace;
        } else if (now > pod.stop_deadline) {
          ::kill(-pod.pid, SIGKILL);
        }
        ++it;
        continue;
      }
      if (!wanted) {
        it = pods_.erase(it);
        continue;
      }
      ++it;
    }
    for (const auto& [file, text] : want) {
      Pod& pod = pods_[file];
      if (pod.pid > 0 || now < pod.start_after) continue;
      pod.text = text;
      Start(file, pod);
    }
  }

  void Start(const std::string& file, Pod& pod) {
    auto manifest = host::ParsePodManifest(pod.text, file);
    if (!manifest) {
      Log(file + ": " + manifest.error().ToString());
      pod.start_after = Clock::now() + std::chrono::seconds(1);
      return;
    }
    const std::string log = host_.pod_logs() + "/" + Stem(file) + ".log";
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      Log(file + ": fork: " + std::strerror(errno));
      return;
    }
    if (pid == 0) Exec(*manifest, log, parent);
    ::setpgid(pid, pid);  // also here: a stop right after the start must reach the group
    pod.pid = pid;
    pod.stop_deadline = {};
    (void)WriteFileAtomic(PidFile(file), std::to_string(pid) + "\n", 0600);
    Log(file + ": started pid " + std::to_string(pid));
  }

  // In the child: never returns.
  [[noreturn]] static void Exec(const host::PodManifest& m, const std::string& log, pid_t parent) {
    ::setpgid(0, 0);  // the pod is its own process group: stopped as one
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);  // the runner died before prctl
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) ::dup2(null, 0);
    for (const auto& [k, v] : m.env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& a : m.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }

  void StopAll() {
    for (auto& [file, pod] : pods_)
      if (pod.pid > 0) ::kill(-pod.pid, SIGTERM);
    const auto deadline = Clock::now() + kStopGrace;
    for (;;) {
      Reap();
      bool any = false;
      for (auto& [file, pod] : pods_) any = any || pod.pid > 0;
      if (!any) break;
      if (Clock::now() > deadline) {
        for (auto& [file, pod] : pods_)
          if (pod.pid > 0) ::kill(-pod.pid, SIGKILL);
      }
      std::this_thread::sleep_for(kPoll);
    }
    Log("stopped");
  }

  std::string PidFile(const std::string& file) const {
    return host_.pod_pids() + "/" + Stem(file) + ".pid";
  }

  host::Host host_;
  std::map<std::string, Pod> pods_;
};

}  // namespace

int RunRunner(const std::string& root) {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  Log("runner for " + root);
  return Runner(root).Run();
}

}  // namespace cpr::lab
