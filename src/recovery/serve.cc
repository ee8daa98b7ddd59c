#include "recovery/serve.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "https/server.h"
#include "https/serving.h"
#include "https/state_lock.h"
#include "pki/kube_pki.h"
#include "recovery/api.h"
#include "signer/token_store.h"
#include "util/atomic_file.h"

namespace cpr::recovery {
namespace {

std::string LockPath(const std::string& state) { return state + "/recovery-api.lock"; }
std::string InfoPath(const std::string& state) { return state + "/recovery-api.json"; }

}  // namespace

Result<void> Serve(const ServeOptions& o) {
  const https::HostPort addr = CPR_TRY(https::ParseListen(o.listen));
  if (o.state_dir.empty()) return MakeError(Code::kInvalidArgument, "--state", "required");
  Inventory inventory = CPR_TRY(ParseNodeFlags(o.nodes));
  int from_snapshot = 0, from_etcd = 0;
  if (!o.nodes_snapshot.empty())
    from_snapshot = CPR_TRY(AddNodesFromSnapshot(o.nodes_snapshot, inventory));
  for (const auto& [key, value] : o.etcd_nodes) {
    CPR_RETURN_IF_ERROR(AddStoredNode(value, "etcd " + key, inventory));
    from_etcd++;
  }
  if (inventory.nodes.empty())
    return MakeError(Code::kInvalidArgument, "--node",
                     "no known node: the policy would approve nothing",
                     "give --node NAME=IP for each node, --nodes-from-etcd or "
                     "--nodes-from-snapshot BACKUP.db");
  const Issuer issuer = CPR_TRY(Issuer::Load(o.pki_dir, o.kubelet_ca, std::time(nullptr)));
  CPR_RETURN_IF_ERROR(signer::CreateStateDir(o.state_dir));
  FileLock lock = CPR_TRY(https::AcquireServeLock(
      LockPath(o.state_dir), "a recovery API already serves from this state dir",
      "stop it with `cpr recovery-api stop --state " + o.state_dir + "` or use another --state"));
  auto store = CPR_TRY(Store::Open(o.state_dir + "/csrs"));
  const int64_t now = std::time(nullptr);
  pki::PrivateKey serving_key = CPR_TRY(pki::PrivateKey::Generate({}));
  pki::Certificate serving_cert = CPR_TRY(https::IssueServingCert(
      addr, {}, pki::Name::Of("cpr-recovery-api", {"system:masters"}), serving_key,
      issuer.cluster_ca().cert, issuer.cluster_ca().key, now, now + 365 * 86400));
  https::TlsConfig tls{
      serving_cert, {}, serving_key, {issuer.cluster_ca().cert, issuer.client_ca().cert}};
  https::Limits limits;
  limits.max_body = 256 * 1024;  // a CSR object is a few KiB
  // Each open watch holds a connection; kubectl and kubelets watch from a
  // few addresses, with other requests beside.
  limits.max_connection_age = std::chrono::seconds(3600);
  signer::AuditLog log(o.state_dir + "/audit.log", true, "cpr-recovery-api");
  ApiConfig config;
  config.inventory = inventory;
  config.tokens_file = pki::KubePkiPaths{o.pki_dir}.BootstrapTokens();
  Api api(store.get(), &issuer, config, &log);
  https::Handler handler;
  handler.log = [&log](const std::string& line) { log.Write(line); };
  handler.admit = [&api](const https::Request& r) { return api.Admit(r); };
  handler.handle = [&api](const https::Request& r) { return api.Handle(r); };
  auto server = https::Server::Bind(addr, tls, limits, std::move(handler));
  if (!server) return std::move(server).error().Within("recovery-api");
  https::Server& svr = **server;

  // Readiness as the signer's: the log line, then the port accepts
  // (connections queue until Run), then recovery-api.json.
  log.Write(fmt::format(
      "recovery API serving on {} pid={} nodes={} ({} from {}, {} from etcd) csrs={} state={} "
      "kubelet-ca={}",
      addr.Url(), ::getpid(), inventory.nodes.size(), from_snapshot,
      signer::LogValue(o.nodes_snapshot.empty() ? "-" : o.nodes_snapshot), from_etcd,
      store->List().size(), signer::LogValue(o.state_dir),
      signer::LogValue(issuer.kubelet_ca_source())));
  if (auto listening = svr.Listen(); !listening) {
    log.Write("stopped: " + listening.error().ToString());
    return std::move(listening).error();
  }
  std::error_code ec;
  const std::string pki_abs = std::filesystem::absolute(o.pki_dir, ec).lexically_normal().string();
  nlohmann::json info{{"pid", static_cast<int>(::getpid())},
                      {"url", addr.Url()},
                      {"listen", o.listen},
                      {"pki", pki_abs},
                      {"started", now}};
  CPR_RETURN_IF_ERROR(WriteFileAtomic(InfoPath(o.state_dir), info.dump(1) + "\n", 0600));

  https::BlockStopSignals();
  std::atomic<bool> done{false};
  std::string reason;
  std::thread watcher([&] {
    const int sig = https::WaitForStopSignal([&] { return done.load(); });
    if (sig > 0) reason = strsignal(sig);
    api.Shutdown();
    svr.Stop();
  });
  std::cout << fmt::format(
                   "recovery API listening on {} (pid {}); kubelet certificates signed by the "
                   "CA of {}; stop with `cpr recovery-api stop --state {}`",
                   addr.Url(), ::getpid(), issuer.kubelet_ca_source(), o.state_dir)
            << std::endl;
  svr.Run();
  done = true;
  watcher.join();
  ::unlink(InfoPath(o.state_dir).c_str());
  log.Write("recovery API stopped: " + (reason.empty() ? std::string("listener ended") : reason));
  return {};
}

std::optional<RunningApi> FindRunningApi(const std::string& state_dir) {
  if (!https::LockHeld(LockPath(state_dir))) return std::nullopt;
  auto text = ReadFileLimited(InfoPath(state_dir), 1 << 20);
  if (!text) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer()) return std::nullopt;
  RunningApi r;
  r.pid = j["pid"].get<int>();
  r.url = j.value("url", "");
  r.pki_dir = j.value("pki", "");
  return r;
}

Result<std::optional<int>> StopApi(const std::string& state_dir, int wait_seconds) {
  auto running = FindRunningApi(state_dir);
  if (!running) {
    if (https::LockHeld(LockPath(state_dir)))
      return MakeError(Code::kUnavailable, state_dir, "a recovery API is starting",
                       "retry in a moment");
    return std::optional<int>();
  }
  if (running->pid <= 1 || !https::ProcessRuns(running->pid, {"recovery-api", "serve"}))
    return MakeError(Code::kFailedPrecondition, InfoPath(state_dir),
                     fmt::format("pid {} is not a `cpr recovery-api serve` process", running->pid),
                     "check with ps; stop it by hand if needed");
  CPR_RETURN_IF_ERROR(
      https::TerminateAndWait(running->pid, LockPath(state_dir), wait_seconds, "the recovery API"));
  return std::optional<int>(running->pid);
}

}  // namespace cpr::recovery
