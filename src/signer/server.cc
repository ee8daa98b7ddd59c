#include "signer/server.h"

#include <fmt/format.h>
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
#include "https/serving.h"
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

// The signer's routes: POST .../certificatesigningrequests, GET
// .../certificatesigningrequests/NAME (v1 and v1beta1), GET /readyz.
struct Route {
  enum Kind { kNone, kCreate, kGet, kReady } kind = kNone;
  std::string name;
  bool method_ok = false;
};

Route Match(const https::RequestHead& h) {
  Route r;
  if (h.path == "/readyz") {
    r.kind = Route::kReady;
    r.method_ok = h.method == "GET";
    return r;
  }
  for (const char* version : {"v1", "v1beta1"}) {
    const std::string base =
        fmt::format("/apis/certificates.k8s.io/{}/certificatesigningrequests", version);
    if (h.path == base || h.path == base + "/") {
      r.kind = Route::kCreate;
      r.method_ok = h.method == "POST";
      return r;
    }
    if (h.path.starts_with(base + "/")) {
      r.name = h.path.substr(base.size() + 1);
      if (r.name.empty() || r.name.find('/') != std::string::npos) return Route{};
      r.kind = Route::kGet;
      r.method_ok = h.method == "GET";
      return r;
    }
  }
  return r;
}

https::Response Reply(const SignerCore::Response& r) {
  https::Response out;
  out.status = r.status;
  out.body = r.body;
  return out;
}

// Before the body is read: the route, then the token. Refusals here are
// logged by the server (rate-limited, with the peer address).
std::optional<https::Response> Admit(const https::Request& req, SignerCore& core) {
  const Route route = Match(req.head);
  auto refuse = https::StatusResponse;
  if (route.kind == Route::kNone) return refuse(404, "no such path");
  if (!route.method_ok) return refuse(405, "method not allowed here");
  if (route.kind == Route::kReady) return std::nullopt;
  const std::string authorization = req.head.Header("authorization");
  if (route.kind == Route::kGet) {
    if (BearerToken(authorization).empty())
      return refuse(401, "no bearer token (Authorization: Bearer <token>)");
    if (!core.KnowsToken(authorization)) return refuse(401, "unknown token");
    return std::nullopt;  // Get answers 404 alike for unknown names and other tokens
  }
  std::string reason;
  if (auto refused = core.CheckToken(authorization, &reason)) {
    https::Response r = Reply(*refused);
    r.log_reason = reason;
    return r;
  }
  return std::nullopt;
}

https::Response Handle(const https::Request& req, SignerCore& core) {
  const Route route = Match(req.head);
  const std::string authorization = req.head.Header("authorization");
  switch (route.kind) {
    case Route::kCreate:
      return Reply(
          core.Create(authorization, req.head.Header("content-type"), req.body, req.peer->address));
    case Route::kGet:
      return Reply(core.Get(route.name, authorization, req.peer->address));
    case Route::kReady: {
      https::Response r;
      r.content_type = "text/plain";
      r.body = "ok";
      return r;
    }
    case Route::kNone:
      break;
  }
  https::Response r;
  r.status = 404;
  return r;
}

}  // namespace

Result<ListenAddress> ParseListen(const std::string& text) {
  return https::ParseListen(text, "--listen");
}

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

  https::TlsConfig tls{serving, {}, serving_key, {}};
  https::Limits limits;
  limits.max_body = kMaxRequestBytes;
  https::Handler handler;
  handler.log = [&log](const std::string& line) { log.Write(line); };
  handler.admit = [&](const https::Request& req) { return Admit(req, core); };
  handler.handle = [&](const https::Request& req) { return Handle(req, core); };
  auto server = https::Server::Bind(addr, tls, limits, std::move(handler));
  if (!server) return std::move(server).error().Within("signer");
  https::Server& svr = **server;

  // Readiness, in this order: ca.crt and the log line, then the port
  // accepts (connections queue until Run), then signer.json, which `signer
  // token` and scripts wait for. So whoever sees the port open finds the log
  // line, and whoever sees signer.json finds the port open.
  std::string bundle = cas.ca.ToPem();
  if (cas.metric_ca) bundle += cas.metric_ca->ToPem();
  // Absolute: `signer token` prints it for another host's operator.
  std::error_code ec;
  const std::string ca_file =
      std::filesystem::absolute(o.state_dir + "/ca.crt", ec).lexically_normal().string();
  CPR_RETURN_IF_ERROR(WriteFileAtomic(ca_file, bundle, 0644));
  log.Write(fmt::format(
      "serving on {} pid={} until {} ca={} state={}{}", addr.Url(), ::getpid(),
      pki::FormatTimeUtc(expires), LogValue(cas.source), LogValue(o.state_dir),
      stale ? fmt::format(" (revoked {} unspent token(s) of an earlier run)", stale) : ""));
  if (auto listening = svr.Listen(); !listening) {
    log.Write("stopped: " + listening.error().ToString());
    return std::move(listening).error();
  }
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
    svr.Stop();
  });
  std::cout << fmt::format(
                   "signer listening on {} (pid {}), until {}; stop with `cpr signer stop "
                   "--state {}`",
                   addr.Url(), ::getpid(), pki::FormatTimeUtc(expires), o.state_dir)
            << std::endl;
  svr.Run();
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
