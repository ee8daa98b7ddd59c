// `cpr recovery-api serve|stop`: the recovery API (certificates.k8s.io CSRs
// for kubectl and kubelets, issue 11) and `cpr kubeconfig recover`, the
// credentials that reach it.
#include <fmt/format.h>

#include <ctime>
#include <iostream>

#include "cli/client_flags.h"
#include "cli/command.h"
#include "pki/etcd_pki.h"
#include "pki/lifetime.h"
#include "recovery/kubeconfig.h"
#include "recovery/policy.h"
#include "recovery/serve.h"
#include "util/atomic_file.h"

namespace cpr::cli {
namespace {

struct RecoveryFlags {
  recovery::ServeOptions serve;
  bool nodes_from_etcd = false;
  ClientFlags etcd;
  std::string pki_dir, server, node, out, validity = "24h", token_ttl = "1h";
  bool bootstrap = false;
};

Result<void> RunStop(const std::string& state) {
  auto pid = CPR_TRY(recovery::StopApi(state));
  if (pid)
    std::cout << fmt::format("recovery API (pid {}) stopped\n", *pid);
  else
    std::cout << fmt::format("no recovery API running on {}\n", state);
  return {};
}

// --nodes-from-etcd: the Node objects as the live etcd holds them now.
Result<void> ReadEtcdNodes(const ClientFlags& flags,
                           std::vector<std::pair<std::string, std::string>>& out) {
  auto etcd = CPR_TRY(MakeClient(flags));
  for (const std::string prefix : recovery::kNodeKeyPrefixes) {
    client::RangeRequest r;
    r.key = prefix;
    r.range_end = client::PrefixEnd(prefix);
    auto got = etcd->Range(r);
    if (!got) return std::move(got).error().Within("--nodes-from-etcd");
    for (auto& kv : got->kvs) out.emplace_back(std::move(kv.key), std::move(kv.value));
  }
  return {};
}

Result<void> RunServe(RecoveryFlags& f) {
  if (f.nodes_from_etcd) CPR_RETURN_IF_ERROR(ReadEtcdNodes(f.etcd, f.serve.etcd_nodes));
  return recovery::Serve(f.serve);
}

Result<void> RunRecover(const RecoveryFlags& f) {
  const int64_t now = std::time(nullptr);
  recovery::Kubeconfig k;
  if (f.bootstrap) {
    if (!pki::ValidHostName(f.node))
      return MakeError(
          Code::kInvalidArgument, "--node",
          f.node.empty() ? "required with --bootstrap" : "'" + f.node + "' is not a node name");
    const int64_t ttl = CPR_TRY(pki::ParseLifetime(f.token_ttl, "--token-ttl"));
    k = CPR_TRY(recovery::BootstrapKubeconfig(f.pki_dir, f.server, f.node, ttl, now));
  } else {
    if (!f.node.empty())
      return MakeError(Code::kInvalidArgument, "--node", "only with --bootstrap");
    const int64_t validity = CPR_TRY(pki::ParseLifetime(f.validity, "--validity"));
    k = CPR_TRY(recovery::AdminKubeconfig(f.pki_dir, f.server, validity, now));
  }
  const std::string text = recovery::RenderKubeconfig(k);
  if (f.out.empty() || f.out == "-") {
    std::cout << text;
    return {};
  }
  CPR_RETURN_IF_ERROR(WriteFileAtomic(f.out, text, 0600));
  std::cerr << fmt::format("wrote {} (0600)\n", f.out);
  return {};
}

}  // namespace

void AddRecoveryApiCommand(CLI::App& app, RunState& state) {
  static RecoveryFlags f;
  auto* api = app.add_subcommand(
      "recovery-api",
      "The recovery API: Kubernetes certificates.k8s.io CSRs (v1, v1beta1) that kubectl and "
      "kubelets use while the real API server is down (docs/cli-recovery-api.md)");
  api->require_subcommand(1);
  auto* serve = api->add_subcommand(
      "serve",
      "Serve HTTPS on --listen until `recovery-api stop`: discovery, list/get/watch/create/delete "
      "of CSRs, the approval and status subresources (JSON and protobuf bodies). Callers: client "
      "certificates of the cluster or kubelet client CA (CN=user, O=groups), bootstrap tokens of "
      "`kubeconfig recover --bootstrap`. Approving runs the node policy (403 with the reason when "
      "it refuses; `cpr csr approve --override` waives its identity rules) and signs with the "
      "kubelet CA of the signer (--pki's, or one given with --ca/--ca-key or "
      "--ca-from-snapshot). CSRs persist under --state.");
  serve
      ->add_option(
          "--pki", f.serve.pki_dir,
          "A `cpr pki init` directory: kube-ca (the cluster CA), and the kubelet CAs unless "
          "--ca or --ca-from-snapshot gives one")
      ->required();
  serve
      ->add_option("--listen", f.serve.listen,
                   "ADDR:PORT, never a wildcard; not the real API server's host:port (kubectl "
                   "caches discovery per host:port)")
      ->required();
  serve->add_option("--state", f.serve.state_dir, "State directory (0700): CSR store, audit.log")
      ->required();
  serve->add_option("--node", f.serve.nodes,
                    "A known node as NAME=IP (repeatable; a name given twice gets both addresses)");
  serve->add_option("--nodes-from-snapshot", f.serve.nodes_snapshot,
                    "Also know the cluster's Node objects (names, status addresses) from this "
                    "etcd snapshot (a backup), read offline");
  serve->add_flag("--nodes-from-etcd", f.nodes_from_etcd,
                  "Also know the Node objects (/registry/minions/, /kubernetes.io/minions/) of "
                  "the live etcd that --endpoints and the TLS flags reach (read once, at start)");
  AddClientFlags(serve, &f.etcd);
  // Only the connection flags mean something here: serve prints no etcd output.
  for (const char* unused : {"--hex", "--write-out"})
    serve->remove_option(serve->get_option(unused));
  serve->add_option("--ca", f.serve.kubelet_ca.cert,
                    "An existing cluster's kubelet CA certificate (with --ca-key): one CA signs "
                    "both kubelet client and serving certificates, as OpenShift's csr-signer, "
                    "and is trusted for client certificates, instead of --pki's kubelet CAs");
  serve->add_option("--ca-key", f.serve.kubelet_ca.key, "The key of --ca");
  serve->add_option("--ca-from-snapshot", f.serve.kubelet_ca.snapshot,
                    "Take that kubelet CA from this etcd snapshot (a backup), read offline: the "
                    "csr-signer Secret (tls.crt, tls.key) of "
                    "openshift-kube-controller-manager-operator, else of "
                    "openshift-kube-controller-manager");
  serve->add_option("--encryption-config", f.serve.kubelet_ca.encryption_config,
                    "The API server's EncryptionConfiguration, when the backup's Secrets are "
                    "encrypted at rest (with --ca-from-snapshot)");
  serve->callback([&state] {
    auto r = RunServe(f);
    if (!r) state.exit_code = ReportError(r.error());
  });
  static std::string stop_state;
  auto* stop = api->add_subcommand("stop", "Stop the recovery API serving from --state");
  stop->add_option("--state", stop_state, "Its state directory")->required();
  stop->callback([&state] {
    auto r = RunStop(stop_state);
    if (!r) state.exit_code = ReportError(r.error());
  });

  auto* kc = app.add_subcommand("kubeconfig", "kubeconfig files for the recovery API");
  kc->require_subcommand(1);
  auto* recover = kc->add_subcommand(
      "recover",
      "Print (or --out F, 0600) a kubeconfig for the recovery API: its URL, the cluster CA of "
      "--pki and a fresh admin client certificate (O=system:masters); with --bootstrap --node N, "
      "a bootstrap-token kubeconfig for node N whose token expires after --token-ttl");
  recover->add_option("--pki", f.pki_dir, "The `cpr pki init` directory the API serves from")
      ->required();
  recover->add_option("--server", f.server, "The recovery API's URL, https://HOST:PORT")
      ->required();
  recover->add_flag("--bootstrap", f.bootstrap, "A node's bootstrap kubeconfig (a token)");
  recover->add_option("--node", f.node, "The node the bootstrap token is for");
  recover->add_option("--out", f.out, "Write here (0600) instead of stdout");
  recover->add_option("--validity", f.validity, "Admin certificate lifetime")
      ->capture_default_str();
  recover->add_option("--token-ttl", f.token_ttl, "Bootstrap token lifetime")
      ->capture_default_str();
  recover->callback([&state] {
    auto r = RunRecover(f);
    if (!r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
