// `cpr pki init`: an etcd CA, a metrics CA, and per master the peer, server
// and metrics certificates in OpenShift's names, plus an admin client
// certificate (pki/etcd_pki.h has the layout).
#include <fmt/format.h>

#include <ctime>
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "pki/etcd_pki.h"
#include "pki/key.h"
#include "pki/kube_pki.h"
#include "pki/lifetime.h"

namespace cpr::cli {
namespace {

struct PkiFlags {
  std::string dir, hosts, key_type = "ecdsa", format = "table";
  std::vector<std::string> validity;
};

Result<void> RunInit(const PkiFlags& f) {
  Format format;
  if (!ParseFormat(f.format, &format) || format == Format::kRaw)
    return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + f.format + "'",
                     "use table, json or yaml");
  pki::InitOptions o;
  o.dir = f.dir;
  o.hosts = CPR_TRY(pki::ParseHosts(f.hosts, "--hosts"));
  o.key = CPR_TRY(pki::ParseKeySpec(f.key_type, "--key-type"));
  for (const auto& v : f.validity)
    CPR_RETURN_IF_ERROR(pki::ParseValidities(v, "--validity", o.validity));
  auto files = CPR_TRY(pki::InitEtcdPki(o));
  // The recovery API's CAs (cluster CA, kubelet client and serving signers).
  auto kube = CPR_TRY(pki::InitKubeCas(f.dir, o.key, o.validity.ca, std::time(nullptr)));
  files.insert(files.end(), kube.begin(), kube.end());
  if (format != Format::kTable) {
    Json doc{{"dir", f.dir}, {"files", Json::array()}};
    for (const auto& x : files)
      doc["files"].push_back({{"path", x.path},
                              {"what", x.what},
                              {"subject", x.subject},
                              {"created", x.created},
                              {"notAfter", pki::FormatTimeUtc(x.not_after)}});
    format == Format::kJson ? PrintJson(std::cout, doc) : PrintYaml(std::cout, doc);
    return {};
  }
  Table t({"FILE", "WHAT", "SUBJECT CN", "NOT AFTER", ""});
  for (const auto& x : files)
    t.Add({x.path, x.what, x.subject, pki::FormatTimeUtc(x.not_after),
           x.created ? "created" : "reused"});
  t.Print(std::cout);
  const std::string& h = o.hosts.front().name;
  const pki::EtcdPkiPaths p{f.dir};
  std::cout << fmt::format(
      "etcd on {0}: --trusted-ca-file {1} --cert-file {2} --key-file {3} --client-cert-auth "
      "--peer-trusted-ca-file {1} --peer-cert-file {4} --peer-key-file {5} "
      "--peer-client-cert-auth\n"
      "clients: --cacert {1} --cert {6} --key {7}\n",
      h, p.CaCert(), p.LeafCert(h, pki::Profile::kServer), p.LeafKey(h, pki::Profile::kServer),
      p.LeafCert(h, pki::Profile::kPeer), p.LeafKey(h, pki::Profile::kPeer), p.AdminCert(),
      p.AdminKey());
  return {};
}

}  // namespace

void AddPkiCommand(CLI::App& app, RunState& state) {
  auto* pki =
      app.add_subcommand("pki", "Make etcd's certificates (CAs and per-member certificates)");
  pki->require_subcommand(1);
  static PkiFlags f;
  auto* init = pki->add_subcommand(
      "init",
      "Create an etcd CA, a metrics CA, per host peer/server/metric certificates and an admin "
      "client certificate, laid out as D/ca.{crt,key}, D/metric-ca.{crt,key}, "
      "D/<host>/{peer,server,metric}.{crt,key}, D/admin.{crt,key}; and the recovery API's CAs: "
      "D/kube-ca.{crt,key} (cluster CA), D/kubelet-client-ca.{crt,key} and "
      "D/kubelet-serving-ca.{crt,key} (kubelet signers). Existing CAs are reused; no "
      "existing file is overwritten. Keys 0600, directories 0700.");
  init->add_option("--dir", f.dir, "Directory to write into (created 0700)")->required();
  init->add_option("--hosts", f.hosts,
                   "Masters as NAME=IP,NAME=IP,... (a name given twice gets both addresses)")
      ->required();
  init->add_option("--key-type", f.key_type, "ecdsa (P-256), rsa, rsa:3072, rsa:4096")
      ->capture_default_str();
  init->add_option("--validity", f.validity,
                   "Lifetimes: DURATION for every leaf, or KIND=DURATION with KIND in ca, "
                   "metric-ca, peer, server, metric, admin (defaults: CAs 10y, leaves 365d)")
      ->allow_extra_args(false);
  AddWriteOut(init, &f.format, "Output format: table, json or yaml");
  init->callback([&state] {
    auto r = RunInit(f);
    if (!r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
