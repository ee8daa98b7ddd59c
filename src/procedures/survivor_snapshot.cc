#include "procedures/survivor_snapshot.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "client/client.h"
#include "etcd/wal.h"
#include "procedures/serving.h"
#include "util/atomic_file.h"
#include "util/process.h"
#include "util/text.h"

namespace cpr::procedures {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// A port on 127.0.0.1 nothing listens on now (the kernel's pick).
Result<int> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return MakeError(Code::kIo, "socket", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  if (port == 0) return MakeError(Code::kIo, "127.0.0.1", "no free port");
  return port;
}

// SIGTERM, then SIGKILL after `grace`; reaped (it is CPR's child).
void StopEtcd(pid_t pid, std::chrono::milliseconds grace) {
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  while (ProcessAlive(pid) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (ProcessAlive(pid)) ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// The backend streamed into `out`: temp name, fsync, rename, fsync the dir.
Result<uint64_t> StreamTo(client::Client& c, const std::string& endpoint, const std::string& out) {
  const std::string tmp = out + ".part";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Code::kIo, tmp, std::string("open: ") + std::strerror(errno));
  auto info = c.Snapshot(endpoint, [fd, &tmp](Bytes chunk, uint64_t) -> Result<void> {
    const char* p = chunk.data();
    size_t left = chunk.size();
    while (left > 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return MakeError(Code::kIo, tmp, std::string("write: ") + std::strerror(errno));
      p += n;
      left -= static_cast<size_t>(n);
    }
    return {};
  });
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!info) {
    ::unlink(tmp.c_str());
    return info.error();
  }
  if (!synced) return MakeError(Code::kIo, tmp, std::string("fsync: ") + std::strerror(errno));
  if (::rename(tmp.c_str(), out.c_str()) != 0)
    return MakeError(Code::kIo, tmp, std::string("rename: ") + std::strerror(errno));
  CPR_RETURN_IF_ERROR(FsyncDir(DirName(out)));
  return info->db_size;
}

}  // namespace

Result<std::string> FindEtcdBinary(const std::string& given) {
  if (!given.empty()) {
    if (::access(given.c_str(), X_OK) == 0) return given;
    return MakeError(Code::kNotFound, given, "not an executable etcd binary",
                     "pass --etcd-binary the path of the member's etcd");
  }
  const char* path = std::getenv("PATH");
  for (const auto& dir : SplitList(path ? path : "/usr/local/bin:/usr/bin:/bin", ':'))
    if (::access((dir + "/etcd").c_str(), X_OK) == 0) return dir + "/etcd";
  return MakeError(Code::kNotFound, "etcd",
                   "no etcd binary in PATH: --from-data-dir runs etcd once on a copy of the data "
                   "dir to apply its WAL",
                   "install etcd of the member's version (Debian: etcd-server) or pass "
                   "--etcd-binary PATH");
}

Result<SurvivorSnapshot> SnapshotDataDir(const SurvivorSnapshotOptions& o) {
  const auto t0 = Clock::now();
  const std::string etcd = CPR_TRY(FindEtcdBinary(o.etcd_binary));
  const std::string copy = o.work_dir + "/data";
  // A run killed while its etcd ran left that etcd behind (detached): it
  // goes first, then the scratch copy it ran on (CPR's own).
  for (pid_t pid : EtcdProcessesHolding(copy + "/member/snap/db")) {
    if (o.say) o.say(fmt::format("stopping etcd (pid {}) left by an interrupted run", pid));
    ::kill(pid, SIGKILL);
    const auto gone = Clock::now() + std::chrono::seconds(10);
    while (ProcessAlive(pid) && Clock::now() < gone)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::error_code ec;
  fs::remove_all(copy, ec);
  CPR_RETURN_IF_ERROR(MakeDirs(copy, 0700));
  fs::copy(o.data_dir + "/member", copy + "/member", fs::copy_options::recursive, ec);
  if (ec)
    return MakeError(Code::kIo, o.data_dir + "/member",
                     "cannot copy to " + copy + ": " + ec.message());
  if (o.say) o.say(fmt::format("data dir copied to {}", copy));
  // Entries logged but past this member's commit index may be writes the
  // old quorum committed (and acknowledged) just before it was lost: kept.
  const uint64_t tail = CPR_TRY(etcd::CommitLoggedEntries(copy + "/member/wal"));
  if (o.say && tail > 0)
    o.say(
        fmt::format("{} logged entries past the member's commit index kept (the lost quorum "
                    "may have committed them)",
                    tail));

  const int client_port = CPR_TRY(FreeLoopbackPort());
  const int peer_port = CPR_TRY(FreeLoopbackPort());
  const bool tls = o.tls.any();
  const std::string scheme = tls ? "https" : "http";
  const std::string client_url = fmt::format("{}://127.0.0.1:{}", scheme, client_port);
  const std::string peer_url = fmt::format("{}://127.0.0.1:{}", scheme, peer_port);
  std::vector<std::string> argv = {etcd,
                                   "--name",
                                   o.name,
                                   "--data-dir",
                                   copy,
                                   "--force-new-cluster",
                                   "--listen-client-urls",
                                   client_url,
                                   "--advertise-client-urls",
                                   client_url,
                                   "--listen-peer-urls",
                                   peer_url,
                                   "--initial-advertise-peer-urls",
                                   peer_url,
                                   "--logger",
                                   "zap",
                                   "--log-outputs",
                                   "stderr"};
  if (tls)
    for (const std::string side : {"", "peer-"}) {
      argv.insert(argv.end(), {"--" + side + "cert-file", o.tls.cert, "--" + side + "key-file",
                               o.tls.key, "--" + side + "trusted-ca-file", o.tls.cacert,
                               "--" + side + "client-cert-auth"});
    }
  // A clean environment: an ETCD_* variable of the operator's would clash
  // with the flags (etcd refuses both) or point it elsewhere.
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  const pid_t pid = CPR_TRY(SpawnDetached({etcd, argv, env, o.work_dir, o.work_dir + "/etcd.log"}));
  if (o.say)
    o.say(
        fmt::format("etcd (pid {}) applies the WAL on the copy, alone on {} "
                    "(--force-new-cluster)",
                    pid, client_url));
  auto taken = [&]() -> Result<uint64_t> {
    if (auto up = WaitLinearizableRead(client_url, o.tls, o.wait); !up) return up.error();
    client::Config cfg;
    cfg.endpoints = CPR_TRY(client::ParseEndpoints(client_url, "endpoint"));
    cfg.tls = o.tls;
    auto c = CPR_TRY(client::Client::Create(cfg));
    return StreamTo(*c, client_url, o.out);
  }();
  StopEtcd(pid, std::chrono::seconds(10));
  if (!taken) {
    Error e = taken.error();
    e.hint = "see " + o.work_dir + "/etcd.log; the data dir itself is untouched";
    return e;
  }
  fs::remove_all(copy, ec);
  SurvivorSnapshot r;
  r.db_bytes = *taken;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (o.say)
    o.say(fmt::format("snapshot {} ({} bytes) in {:.2f}s; etcd (pid {}) stopped", o.out, r.db_bytes,
                      r.seconds, pid));
  return r;
}

}  // namespace cpr::procedures
