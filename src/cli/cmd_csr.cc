// `cpr csr list|describe|approve|deny|request`: the recovery API's CSRs for
// operators without kubectl, and the kubelet's bootstrap for hosts without
// a kubelet. Every command talks to the API over HTTPS with a kubeconfig
// (--kubeconfig, or $KUBECONFIG), as kubectl does: the server applies the
// same rules and the same node policy whoever calls.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <ctime>
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "pki/csr.h"
#include "pki/lifetime.h"
#include "recovery/client.h"
#include "recovery/codec.h"
#include "recovery/policy.h"

namespace cpr::cli {
namespace {

struct CsrFlags {
  std::string kubeconfig, format = "table", policy, node, dir;
  std::string override_reason;  // --override JUSTIFICATION
  bool override_given = false;
  std::vector<std::string> names;
  int timeout = 900;
};

Result<recovery::ApiClient> Connect(const CsrFlags& f) {
  std::string path = f.kubeconfig;
  if (path.empty())
    if (const char* env = std::getenv("KUBECONFIG"); env && *env) path = env;
  if (path.empty())
    return MakeError(Code::kInvalidArgument, "--kubeconfig",
                     "no kubeconfig (--kubeconfig or $KUBECONFIG)",
                     "make one with `cpr kubeconfig recover --pki D --server URL`");
  recovery::Kubeconfig k = CPR_TRY(recovery::LoadKubeconfig(path));
  return recovery::ApiClient::Connect(k);
}

Result<Format> TableOrJson(const std::string& text) {
  Format format;
  if (!ParseFormat(text, &format) || (format != Format::kTable && format != Format::kJson))
    return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + text + "'",
                     "use table or json");
  return format;
}

std::string PolicyOf(const recovery::Csr& c) {
  auto it = c.annotations.find(recovery::kPolicyAnnotation);
  return it == c.annotations.end() ? "" : it->second;
}

Result<void> RunList(const CsrFlags& f) {
  const Format format = CPR_TRY(TableOrJson(f.format));
  recovery::ApiClient api = CPR_TRY(Connect(f));
  auto items = CPR_TRY(api.List("", nullptr));
  if (format == Format::kJson) {
    Json doc{{"items", Json::array()}};
    for (const auto& c : items) doc["items"].push_back(recovery::CsrToJson(c, "v1"));
    PrintJson(std::cout, doc);
    return {};
  }
  const int64_t now = std::time(nullptr);
  Table t({"NAME", "AGE", "SIGNERNAME", "REQUESTOR", "CONDITION", "POLICY"});
  for (const auto& c : items) {
    auto created = recovery::ParseRfc3339(c.creation_timestamp);
    t.Add({c.name, created ? recovery::ShortAge(now - *created) : "<unknown>", c.signer_name,
           c.username, recovery::ConditionText(c), PolicyOf(c)});
  }
  t.Print(std::cout);
  return {};
}

Result<void> RunDescribe(const CsrFlags& f) {
  const Format format = CPR_TRY(TableOrJson(f.format));
  recovery::ApiClient api = CPR_TRY(Connect(f));
  for (const auto& name : f.names) {
    recovery::Csr c = CPR_TRY(api.Get(name));
    if (format == Format::kJson) {
      PrintJson(std::cout, recovery::CsrToJson(c, "v1"));
      continue;
    }
    std::cout << fmt::format("Name:               {}\n", c.name);
    std::cout << fmt::format("Created:            {}\n", c.creation_timestamp);
    std::cout << fmt::format("Requesting User:    {}\n", c.username);
    std::cout << fmt::format("Groups:             {}\n", fmt::join(c.groups, ", "));
    std::cout << fmt::format("Signer:             {}\n", c.signer_name);
    std::cout << fmt::format("Usages:             {}\n", fmt::join(c.usages, ", "));
    std::cout << fmt::format("Status:             {}\n", recovery::ConditionText(c));
    std::cout << fmt::format("Node policy:        {}\n", PolicyOf(c));
    if (auto req = pki::CertRequest::FromPem(c.request, name)) {
      const pki::CsrInfo info = req->Info();
      std::cout << fmt::format("Subject:            {}\n", info.subject.ToString());
      std::cout << fmt::format("Key:                {}\n", info.key_description);
      if (!info.dns_names.empty())
        std::cout << fmt::format("DNS Names:          {}\n", fmt::join(info.dns_names, ", "));
      if (!info.ip_addresses.empty())
        std::cout << fmt::format("IP Addresses:       {}\n", fmt::join(info.ip_addresses, ", "));
    }
    for (const auto& cond : c.conditions)
      std::cout << fmt::format("Condition:          {} {} ({}) {}\n", cond.type,
                               cond.last_update_time, cond.reason, cond.message);
  }
  return {};
}

// approve / deny: each name (or, with --policy nodes and no name, every
// pending CSR); a refusal by the server's policy is reported, not fatal
// for the others.
Result<void> RunDecide(const CsrFlags& f, bool approve, RunState& state) {
  const Format format = CPR_TRY(TableOrJson(f.format));
  if (!f.policy.empty() && f.policy != "nodes")
    return MakeError(Code::kInvalidArgument, "--policy", "'" + f.policy + "': only 'nodes'");
  if (!approve && !f.policy.empty())
    return MakeError(Code::kInvalidArgument, "--policy", "only with approve");
  if (f.names.empty() && f.policy.empty())
    return MakeError(Code::kInvalidArgument, "NAME", "give CSR names, or --policy nodes");
  const bool override = f.override_given;
  if (override && !f.policy.empty())
    return MakeError(Code::kInvalidArgument, "--override",
                     "not with --policy nodes: an override is for named CSRs only");
  if (override && f.override_reason.find_first_not_of(" \t\r\n") == std::string::npos)
    return MakeError(Code::kInvalidArgument, "--override", "the justification is empty",
                     "say why, e.g. --override \"replacement node, inventory stale\"");
  recovery::ApiClient api = CPR_TRY(Connect(f));
  std::vector<std::string> names = f.names;
  if (names.empty())
    for (const auto& c : CPR_TRY(api.List("", nullptr)))
      if (recovery::ConditionText(c) == "Pending") names.push_back(c.name);
  Table t({"NAME", "RESULT", "REASON"});
  Json doc{{"results", Json::array()}};
  int refused = 0;
  for (const auto& name : names) {
    auto r =
        !approve ? api.SetCondition(name, "Denied", "CprDeny", "denied with cpr csr deny")
        : override
            ? api.SetCondition(name, "Approved", recovery::kOverrideReason, f.override_reason)
            : api.SetCondition(name, "Approved", "CprApprove",
                               f.policy.empty() ? "approved with cpr csr approve"
                                                : "approved by cpr csr approve --policy nodes");
    std::string result, reason;
    if (r) {
      result = recovery::ConditionText(*r);
    } else {
      refused++;
      result = approve ? "left pending" : "failed";
      reason = r.error().what;
    }
    t.Add({name, result, reason});
    doc["results"].push_back({{"name", name}, {"result", result}, {"reason", reason}});
  }
  if (format == Format::kJson)
    PrintJson(std::cout, doc);
  else
    t.Print(std::cout);
  // With --policy nodes, CSRs the policy refuses are the expected outcome.
  if (refused && f.policy.empty()) state.exit_code = 1;
  return {};
}

Result<void> RunRequest(const CsrFlags& f) {
  recovery::BootstrapOptions o;
  o.kubeconfig = f.kubeconfig;
  o.node = f.node;
  o.dir = f.dir;
  o.timeout_seconds = f.timeout;
  if (o.kubeconfig.empty())
    return MakeError(Code::kInvalidArgument, "--kubeconfig",
                     "the bootstrap kubeconfig is required");
  auto r = CPR_TRY(
      recovery::Bootstrap(o, [](const std::string& line) { std::cerr << line << std::endl; }));
  std::cout << fmt::format("{}: issued until {}; wrote {} (0600), {}, {} (0600)\n", r.csr_name,
                           pki::FormatTimeUtc(r.not_after), r.key_path, r.cert_path,
                           r.kubeconfig_path);
  return {};
}

}  // namespace

void AddCsrCommand(CLI::App& app, RunState& state) {
  static CsrFlags f;
  auto* csr = app.add_subcommand(
      "csr",
      "CertificateSigningRequests of the recovery API, over HTTPS with a kubeconfig "
      "(--kubeconfig or $KUBECONFIG; `cpr kubeconfig recover` makes one)");
  csr->require_subcommand(1);
  auto add_common = [&](CLI::App* c) {
    c->add_option("--kubeconfig", f.kubeconfig, "kubeconfig of the recovery API ($KUBECONFIG)");
  };
  auto* list = csr->add_subcommand("list", "NAME AGE SIGNERNAME REQUESTOR CONDITION POLICY");
  add_common(list);
  AddWriteOut(list, &f.format, "Output format: table or json");
  list->callback([&state] {
    if (auto r = RunList(f); !r) state.exit_code = ReportError(r.error());
  });
  auto* describe = csr->add_subcommand("describe", "Everything about the named CSRs");
  add_common(describe);
  describe->add_option("NAME", f.names, "CSR names")->required();
  AddWriteOut(describe, &f.format, "Output format: table or json");
  describe->callback([&state] {
    if (auto r = RunDescribe(f); !r) state.exit_code = ReportError(r.error());
  });
  auto* approve = csr->add_subcommand(
      "approve",
      "Approve the named CSRs, or with --policy nodes and no name every pending one; the server "
      "approves only what its node policy passes (the others stay pending, with the reason) and "
      "signs at once. --override waives the policy's identity rules for the named CSRs");
  add_common(approve);
  approve->add_option("NAME", f.names, "CSR names");
  approve->add_option("--policy", f.policy, "nodes: approve what the node policy passes");
  approve->add_option(
      "--override", f.override_reason,
      "JUSTIFICATION (kept in the Approved condition and the audit log; system:masters only): "
      "waives only the identity rules of the node policy (the node in the inventory, the "
      "requestor, serving SANs being the node's own). Still enforced: kubelet signer, subject "
      "O=system:nodes CN=system:node:<valid name>, usages, no CA, key type/size and reuse, "
      "signature, no SANs on client CSRs, DNS/IP SANs only (at least one) on serving CSRs");
  AddWriteOut(approve, &f.format, "Output format: table or json");
  approve->callback([&state, approve] {
    f.override_given = approve->count("--override") > 0;
    if (auto r = RunDecide(f, true, state); !r) state.exit_code = ReportError(r.error());
  });
  auto* deny = csr->add_subcommand("deny", "Deny the named CSRs (final)");
  add_common(deny);
  deny->add_option("NAME", f.names, "CSR names")->required();
  AddWriteOut(deny, &f.format, "Output format: table or json");
  deny->callback([&state] {
    if (auto r = RunDecide(f, false, state); !r) state.exit_code = ReportError(r.error());
  });
  auto* request = csr->add_subcommand(
      "request",
      "The kubelet's bootstrap: make a key here, post node-csr-<hash> for system:node:N with the "
      "bootstrap kubeconfig's token, wait (list + watch, at most --timeout s) until it is issued, "
      "then write D/kubelet-client.key (0600), D/kubelet-client.crt and D/kubelet.kubeconfig");
  request->add_option("--kubeconfig", f.kubeconfig, "The bootstrap kubeconfig")->required();
  request->add_option("--node", f.node, "The node name N")->required();
  request->add_option("--dir", f.dir, "Where to write the key, certificate and kubeconfig")
      ->required();
  StrictInt(request->add_option("--timeout", f.timeout, "Seconds to wait for the certificate"), 1,
            86400)
      ->capture_default_str();
  request->callback([&state] {
    if (auto r = RunRequest(f); !r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
