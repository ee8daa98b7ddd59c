#include "signer/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "https/server.h"
#include "https/state_lock.h"
#include "pki/issue.h"
#include "pki/lifetime.h"
#include "signer/core.h"
#include "signer/token_store.h"
#include "util/atomic_file.h"
#include "util/file_lock.h"

namespace cpr::signer {
namespace {

using Json = nlohmann::json;

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

// The flock on <state>/signer.lock, held for the signer's whole life.
Result<FileLock> AcquireLock(const std::string& state_dir) {
  auto lock = FileLock::Acquire(state_dir + "/signer.lock", /*wait=*/false);
  if (lock || lock.error().code != Code::kFailedPrecondition) return lock;
  auto running = FindRunningSigner(state_dir);
  std::string who =
      running && *running ? fmt::format(" (pid {}, {})", (*running)->pid, (*running)->url) : "";
  return MakeError(
      Code::kFailedPrecondition, state_dir, "a signer already serves from this state dir" + who,
      "stop it with `cpr signer stop --state " + state_dir + "` or use another --state");
}

bool LockHeld(const std::string& state_dir) { return https::LockHeld(state_dir + "/signer.lock"); }

}  // namespace

Result<std::optional<RunningSigner>> FindRunningSigner(const std::string& state_dir) {
  if (!LockHeld(state_dir)) return std::optional<RunningSigner>();
  auto text = ReadFileLimited(state_dir + "/signer.json", 1 << 20);
  if (!text) {
    // Starting up: the lock is taken before signer.json is written.
    return MakeError(Code::kUnavailable, state_dir, "a signer is starting (no signer.json yet)",
                     "retry in a moment");
  }
  Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return MakeError(Code::kCorrupt, state_dir + "/signer.json", "not JSON");
  RunningSigner r;
  try {
    r.pid = j.at("pid").get<int>();
    r.url = j.at("url").get<std::string>();
    r.listen = j.at("listen").get<std::string>();
    r.ca_file = j.at("caFile").get<std::string>();
    r.started = j.at("started").get<int64_t>();
    r.expires = j.at("expires").get<int64_t>();
  } catch (const Json::exception& e) {
    return MakeError(Code::kCorrupt, state_dir + "/signer.json", e.what());
  }
  return std::optional<RunningSigner>(r);
}

Result<StopResult> StopSigner(const std::string& state_dir, int wait_seconds) {
  StopResult out;
  struct stat st;
  const bool have_state = ::stat(state_dir.c_str(), &st) == 0;
  // What stopping revokes (the signer revokes them itself as it exits).
  int unspent = 0;
  if (have_state) {
    TokenStore store(state_dir);
    auto list = store.List();
    if (list)
      for (const auto& t : *list) unspent += t.state == "unspent";
  }
  auto running = FindRunningSigner(state_dir);
  if (running && *running) {
    const int pid = (*running)->pid;
    if (pid <= 1 || !https::ProcessRuns(pid, {"signer", "serve"}))
      return MakeError(Code::kFailedPrecondition, state_dir + "/signer.json",
                       fmt::format("pid {} is not a `cpr signer serve` process", pid),
                       "check with ps; stop it by hand if needed");
    CPR_RETURN_IF_ERROR(
        https::TerminateAndWait(pid, state_dir + "/signer.lock", wait_seconds, "the signer"));
    out.pid = pid;
  } else if (!running && running.error().code != Code::kUnavailable) {
    return std::move(running).error();
  }
  // Revoke whatever is left (the signer does it too as it exits).
  if (have_state) {
    TokenStore store(state_dir);
    const int left = CPR_TRY(store.RevokeUnspent(Now()));
    out.revoked = std::max(unspent, left);
  }
  return out;
}

Result<void> Serve(const ServeOptions& o, const SigningCas& cas) {
  const ListenAddress addr = CPR_TRY(ParseListen(o.listen));
  for (const auto& d : o.dns)
    if (!pki::ValidHostName(d))
      return MakeError(Code::kInvalidArgument, "--dns",
                       fmt::format("'{}' is not a host name (wildcards are never allowed)", d));
  if (o.ttl <= 0) return MakeError(Code::kInvalidArgument, "--ttl", "must be positive");
  CPR_RETURN_IF_ERROR(CreateStateDir(o.state_dir));
  FileLock lock = CPR_TRY(AcquireLock(o.state_dir));
  const int64_t started = Now();
  const int64_t expires = started + o.ttl;

  // A fresh signer starts with no valid token from an earlier run.
  TokenStore store(o.state_dir);
  const int stale = CPR_TRY(store.RevokeUnspent(started));

  // The serving certificate: in memory only, from the etcd CA.
  pki::PrivateKey serving_key = CPR_TRY(pki::PrivateKey::Generate({}));
  pki::Certificate serving = CPR_TRY(
      https::IssueServingCert(addr, o.dns, pki::Name::Of("cpr-signer", {"system:etcd-signer"}),
                              serving_key, cas.ca, cas.ca_key, started, expires + 3600));

  AuditLog log(o.state_dir + "/audit.log");
  PolicyConfig policy{o.dns, o.max_cert_lifetime};
  SignerCore core(cas, o.state_dir, policy, &log);

  httplib::SSLServer svr([&](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    return SSL_CTX_use_certificate(&ctx, serving.get()) == 1 &&
           SSL_CTX_use_PrivateKey(&ctx, serving_key.get()) == 1 &&
           SSL_CTX_check_private_key(&ctx) == 1;
  });
  if (!svr.is_valid()) return MakeError(Code::kInternal, "signer", "TLS setup failed");
  svr.set_payload_max_length(kMaxRequestBytes);
  svr.set_read_timeout(10, 0);
  svr.set_write_timeout(10, 0);
  svr.set_keep_alive_max_count(10);
  thread_local bool handled = false;
  svr.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    handled = false;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto reply = [](httplib::Response& res, const SignerCore::Response& r) {
    res.status = r.status;
    res.set_content(r.body, "application/json");
  };
  const std::string csr_path =
      R"(/apis/certificates\.k8s\.io/v1(beta1)?/certificatesigningrequests)";
  svr.Post(csr_path + "/?", [&](const httplib::Request& req, httplib::Response& res) {
    handled = true;
    reply(res,
          core.Create(req.get_header_value("Authorization"), req.get_header_value("Content-Type"),
                      req.body, fmt::format("{}:{}", req.remote_addr, req.remote_port)));
  });
  svr.Get(csr_path + "/([^/]+)", [&](const httplib::Request& req, httplib::Response& res) {
    handled = true;
    reply(res, core.Get(req.matches[2], req.get_header_value("Authorization"),
                        fmt::format("{}:{}", req.remote_addr, req.remote_port)));
  });
  svr.Get("/readyz", [&](const httplib::Request&, httplib::Response& res) {
    handled = true;
    res.set_content("ok", "text/plain");
  });
  svr.set_exception_handler(
      [&](const httplib::Request&, httplib::Response& res, const std::exception_ptr&) {
        handled = true;
        core.LogRefusal("internal error while handling a request", "");
        res.status = 500;
      });
  // Requests refused before any handler ran (unknown path, body too large).
  svr.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
    if (!handled && res.status >= 400)
      core.LogRefusal(fmt::format("HTTP {} for {} {}", res.status, req.method, req.path),
                      fmt::format("{}:{}", req.remote_addr, req.remote_port));
    handled = false;  // the next request on this thread may never reach a handler
  });

  if (!svr.bind_to_port(addr.host, addr.port))
    return MakeError(Code::kUnavailable, "--listen " + o.listen,
                     std::string("cannot listen: ") + std::strerror(errno),
                     "is the address on this host, and the port free?");

  // State for `signer token` and `signer stop`.
  std::string bundle = cas.ca.ToPem();
  if (cas.metric_ca) bundle += cas.metric_ca->ToPem();
  // Absolute: `signer token` prints it for another host's operator.
  std::error_code ec;
  const std::string ca_file =
      std::filesystem::absolute(o.state_dir + "/ca.crt", ec).lexically_normal().string();
  CPR_RETURN_IF_ERROR(WriteFileAtomic(ca_file, bundle, 0644));
  Json info{{"pid", static_cast<int>(::getpid())},
            {"url", addr.Url()},
            {"listen", o.listen},
            {"caFile", ca_file},
            {"started", started},
            {"expires", expires},
            {"source", cas.source}};
  CPR_RETURN_IF_ERROR(WriteFileAtomic(o.state_dir + "/signer.json", info.dump(1) + "\n", 0600));

  // Signals go to the watcher thread only (blocked here, before any thread starts).
  https::BlockStopSignals();
  std::atomic<bool> done{false};
  std::string stop_reason = "listener ended";
  std::thread watcher([&] {
    const int sig = https::WaitForStopSignal([&] { return done || Now() >= expires; });
    if (sig == SIGTERM)
      stop_reason = "SIGTERM (cpr signer stop)";
    else if (sig > 0)
      stop_reason = strsignal(sig);
    else if (Now() >= expires)
      stop_reason = "TTL of " + pki::FormatLifetime(o.ttl) + " reached";
    // stop() is a no-op until the listener runs; wait for it briefly.
    for (int i = 0; i < 100 && !svr.is_running() && !done; i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    svr.stop();
  });
  log.Write(fmt::format(
      "serving on {} pid={} until {} ca={} state={}{}", addr.Url(), ::getpid(),
      pki::FormatTimeUtc(expires), LogValue(cas.source), LogValue(o.state_dir),
      stale ? fmt::format(" (revoked {} unspent token(s) of an earlier run)", stale) : ""));
  std::cout << fmt::format(
                   "signer listening on {} (pid {}), until {}; stop with `cpr signer stop "
                   "--state {}`",
                   addr.Url(), ::getpid(), pki::FormatTimeUtc(expires), o.state_dir)
            << std::endl;
  svr.listen_after_bind();
  done = true;
  watcher.join();

  auto revoked = store.RevokeUnspent(Now());
  ::unlink((o.state_dir + "/signer.json").c_str());
  log.Write(
      fmt::format("stopped: {}; revoked {} unspent token(s)", stop_reason, revoked ? *revoked : 0));
  // Signals stay blocked: a second SIGTERM now must not kill the exit path.
  if (!revoked) return std::move(revoked).error();
  return {};
}

}  // namespace cpr::signer
