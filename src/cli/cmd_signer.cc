// `cpr signer serve|stop|token`: the temporary etcd signer on the surviving
// master (the kube-etcd-signer-server + tokenize-signer.sh analog, seed §3.2
// step 5), with one-time host-bound tokens instead of no authentication.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <thread>

#include "cli/command.h"
#include "cli/output.h"
#include "pki/etcd_pki.h"
#include "pki/lifetime.h"
#include "signer/ca_source.h"
#include "signer/client.h"
#include "signer/policy.h"
#include "signer/server.h"
#include "signer/token_store.h"
#include "util/atomic_file.h"

namespace cpr::cli {
namespace {

struct SignerFlags {
  std::string pki_dir, snapshot, encryption_config, listen, state = signer::kDefaultStateDir;
  std::vector<std::string> dns, ips;
  std::string ttl = "1h", validity = "365d";
  // token
  std::string host, profile = "peer", out_dir = "/etc/ssl/etcd", kubeconfig, format = "table";
};

Result<void> RunServe(const SignerFlags& f) {
  if (f.pki_dir.empty() == f.snapshot.empty())
    return MakeError(Code::kInvalidArgument, "--pki/--snapshot",
                     "give exactly one source for the CA: --pki DIR or --snapshot FILE");
  if (!f.encryption_config.empty() && f.snapshot.empty())
    return MakeError(Code::kInvalidArgument, "--encryption-config", "only with --snapshot");
  signer::ServeOptions o;
  o.listen = f.listen;
  o.state_dir = f.state;
  o.dns = f.dns;
  o.ttl = CPR_TRY(pki::ParseLifetime(f.ttl, "--ttl"));
  o.max_cert_lifetime = CPR_TRY(pki::ParseLifetime(f.validity, "--validity"));
  // Usage errors before any file is read.
  if (auto l = signer::ParseListen(o.listen); !l) return std::move(l).error();
  signer::SigningCas cas =
      f.pki_dir.empty() ? CPR_TRY(signer::LoadCasFromSnapshot(f.snapshot, f.encryption_config))
                        : CPR_TRY(signer::LoadCasFromDir(f.pki_dir));
  return signer::Serve(o, cas);
}

Result<void> RunStop(const SignerFlags& f) {
  signer::StopResult r = CPR_TRY(signer::StopSigner(f.state));
  if (r.pid)
    std::cout << fmt::format("signer (pid {}) stopped; {} unspent token(s) revoked\n", *r.pid,
                             r.revoked);
  else
    std::cout << fmt::format("no signer running on {}; {} unspent token(s) revoked\n", f.state,
                             r.revoked);
  return {};
}

std::string ShellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_./:=@,+[]") == std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Result<void> RunToken(const SignerFlags& f) {
  Format format;
  if (!ParseFormat(f.format, &format) || format == Format::kRaw)
    return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + f.format + "'",
                     "use table, json or yaml");
  if (!pki::ValidHostName(f.host))
    return MakeError(Code::kInvalidArgument, "HOST", fmt::format("bad host name '{}'", f.host));
  if (f.ips.empty())
    return MakeError(Code::kInvalidArgument, "--ip", "the host's IP address is required",
                     "the token is bound to the host's name and addresses");
  std::vector<std::string> ips;
  for (const auto& ip : f.ips) {
    std::string c = signer::CanonicalIp(ip);
    if (c.empty())
      return MakeError(Code::kInvalidArgument, "--ip", fmt::format("bad IP address '{}'", ip));
    ips.push_back(c);
  }
  // "member": one token for the peer, server and metrics certificates of a
  // new master, used by `cpr member recover` through the recovery file.
  const bool member = f.profile == signer::kMemberProfile;
  if (member && f.kubeconfig.empty())
    return MakeError(Code::kInvalidArgument, "--profile member",
                     "a member token is handed over as a recovery file",
                     "add --kubeconfig FILE and copy FILE to the new master");
  const std::string profile_name =
      member
          ? std::string(signer::kMemberProfile)
          : std::string(pki::GetProfile(CPR_TRY(pki::ParseProfile(f.profile, "--profile"))).name);
  const int64_t ttl = CPR_TRY(pki::ParseLifetime(f.ttl, "--ttl"));
  // A signer that has just started writes signer.json a moment after it
  // takes its lock ("starting"): wait for it briefly.
  auto found = signer::FindRunningSigner(f.state);
  for (int i = 0; i < 60 && !found && found.error().code == Code::kUnavailable; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    found = signer::FindRunningSigner(f.state);
  }
  auto running = CPR_TRY(std::move(found));
  if (!running)
    return MakeError(
        Code::kFailedPrecondition, f.state, "no signer is running on this state dir",
        "start it first: cpr signer serve --pki DIR --listen ADDR:PORT --state " + f.state);
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const int64_t expires = std::min(now + ttl, running->expires);
  signer::TokenStore store(f.state);
  signer::IssuedToken t = CPR_TRY(store.Issue(f.host, ips, profile_name, now, expires));

  // The token goes in the environment (CPR_SIGNER_TOKEN), never in the
  // arguments: another user's `ps` shows a process's arguments.
  std::string command =
      fmt::format("CPR_SIGNER_TOKEN={} cpr certs request --signer {} --profile {} --name {}",
                  t.token, running->url, profile_name, ShellQuote(f.host));
  for (const auto& ip : ips) command += " --ip " + ip;
  command += " --dir " + ShellQuote(f.out_dir) + " --cacert " + ShellQuote(running->ca_file);
  if (!f.kubeconfig.empty()) {
    std::string ca = CPR_TRY(ReadFileLimited(running->ca_file, 1u << 20));
    signer::RecoveryConfig rc{running->url, ca, t.token, f.host};
    CPR_RETURN_IF_ERROR(WriteFileAtomic(f.kubeconfig, signer::RenderRecoveryConfig(rc), 0600));
  }
  if (format != Format::kTable) {
    Json doc{
        {"host", f.host},     {"token", t.token},        {"expires", pki::FormatTimeUtc(expires)},
        {"command", command}, {"profile", profile_name}, {"ips", ips},
        {"id", t.record.id},  {"signer", running->url},  {"caFile", running->ca_file}};
    if (!f.kubeconfig.empty()) doc["kubeconfig"] = f.kubeconfig;
    format == Format::kJson ? PrintJson(std::cout, doc) : PrintYaml(std::cout, doc);
    return {};
  }
  if (member) {
    // The token stays in the file (0600): never on a command line.
    std::cout << fmt::format(
        "member token {} for host {} ({}), valid until {}, in {} (0600: it holds the token).\n"
        "Copy it to {} and run there:\n  cpr member recover --kubeconfig {} --name {} "
        "--peer-url https://{}:2380 --endpoints <this master's client URL> --cacert ... --cert "
        "... --key ...\n",
        t.record.id, f.host, fmt::join(ips, ","), pki::FormatTimeUtc(expires), f.kubeconfig, f.host,
        f.kubeconfig, f.host,
        ips.front().find(':') != std::string::npos ? "[" + ips.front() + "]" : ips.front());
    return {};
  }
  std::cout << fmt::format(
      "one-time token {} for host {} ({}), profile {}, valid until {}:\n  {}\n"
      "Copy {} to the new host, then run there (the token in the environment: `ps` shows "
      "arguments):\n  {}\n",
      t.record.id, f.host, fmt::join(ips, ","), profile_name, pki::FormatTimeUtc(expires), t.token,
      running->ca_file, command);
  if (!f.kubeconfig.empty())
    std::cout << fmt::format(
        "Or copy {} (0600: it holds the token) and run:\n  cpr certs request --kubeconfig {} "
        "--profile {} --name {}{} --dir {}\n",
        f.kubeconfig, f.kubeconfig, profile_name, f.host,
        [&] {
          std::string s;
          for (const auto& ip : ips) s += " --ip " + ip;
          return s;
        }(),
        f.out_dir);
  return {};
}

}  // namespace

void AddSignerCommand(CLI::App& app, RunState& state) {
  auto* sg = app.add_subcommand(
      "signer",
      "The temporary etcd certificate signer for growing etcd back (one-time, host-bound tokens)");
  sg->require_subcommand(1);
  static SignerFlags f;
  auto state_flag = [&](CLI::App* c) {
    c->add_option("--state", f.state,
                  "The signer's state dir (0700: lock, token hashes, audit log)")
        ->capture_default_str();
  };

  auto* serve = sg->add_subcommand(
      "serve",
      "Serve HTTPS on --listen, signing etcd peer/server/metrics certificates for holders of a "
      "one-time token (`cpr signer token`), until `cpr signer stop` or --ttl. Every decision is "
      "logged (stderr and STATE/audit.log) with its reason, never with the token.");
  serve->add_option("--pki", f.pki_dir, "CA source: a `cpr pki init` dir (ca.*, metric-ca.*)");
  serve->add_option("--snapshot", f.snapshot,
                    "CA source: a backup snapshot holding the openshift-config/etcd-signer and "
                    "etcd-metric-signer Secrets");
  serve->add_option("--encryption-config", f.encryption_config,
                    "The API server's EncryptionConfiguration, when Secrets are encrypted at rest");
  serve->add_option("--listen", f.listen, "ADDR:PORT to serve on (e.g. 10.0.0.5:9943); no wildcard")
      ->required();
  serve->add_option("--dns", f.dns, "Extra DNS names every host may have in its SANs (repeatable)")
      ->allow_extra_args(false);
  serve->add_option("--ttl", f.ttl, "Stop by itself after this long")->capture_default_str();
  serve->add_option("--validity", f.validity, "Longest lifetime of an issued certificate")
      ->capture_default_str();
  state_flag(serve);
  serve->callback([&state] {
    auto r = RunServe(f);
    if (!r) state.exit_code = ReportError(r.error());
  });

  auto* stop = sg->add_subcommand("stop", "Stop the signer and revoke every unspent token");
  state_flag(stop);
  stop->callback([&state] {
    auto r = RunStop(f);
    if (!r) state.exit_code = ReportError(r.error());
  });

  auto* token = sg->add_subcommand(
      "token",
      "Issue a one-time token bound to HOST, its IPs and one profile (the tokenize-signer.sh "
      "analog); prints it with the command to run on the new host. Kept hashed in the state dir.");
  token->add_option("host", f.host, "The new member's host name")->required();
  token->add_option("--ip", f.ips, "The host's IP address (repeatable)")
      ->required()
      ->allow_extra_args(false);
  token
      ->add_option("--profile", f.profile,
                   "peer, server or metrics; or member: one certificate of each of the three, for "
                   "`cpr member recover` (needs --kubeconfig)")
      ->capture_default_str();
  token->add_option("--ttl", f.ttl, "Token lifetime (capped at the signer's end)")
      ->capture_default_str();
  token->add_option("--dir", f.out_dir, "Output directory in the printed command")
      ->capture_default_str();
  token->add_option("--kubeconfig", f.kubeconfig,
                    "Also write a kubeconfig-shaped recovery file (server, CA, token), 0600");
  AddWriteOut(token, &f.format,
              "Output format: table, json (host, token, expires, command) or yaml");
  state_flag(token);
  token->callback([&state] {
    auto r = RunToken(f);
    if (!r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
