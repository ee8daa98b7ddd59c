// `cpr member list|add|remove|update|promote`: etcd membership, as etcdctl
// 3.4's `member` commands (same arguments, IDs in hex, same output for
// simple/table/json; yaml is the JSON document as YAML).
#include <fmt/format.h>

#include <charconv>
#include <iostream>

#include "cli/client_flags.h"
#include "cli/command.h"
#include "cli/live_output.h"
#include "cli/procedure_output.h"
#include "procedures/member_recover.h"

namespace cpr::cli {
namespace {

struct Flags {
  ClientFlags client;
  std::string name, id, peer_urls;
  bool learner = false;
  // recover
  std::string root = "/", peer_url, kubeconfig;
  int wait = 300;
  bool dry_run = false;
};

Result<uint64_t> ParseMemberId(const std::string& text) {
  uint64_t id = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id, 16);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size())
    return MakeError(Code::kInvalidArgument, "MEMBER_ID",
                     fmt::format("bad member ID '{}', expecting ID in hex", text),
                     "`cpr member list` shows the IDs");
  return id;
}

Result<std::vector<std::string>> PeerUrls(const std::string& list) {
  std::vector<std::string> urls;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) urls.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  if (urls.empty())
    return MakeError(Code::kInvalidArgument, "--peer-urls", "member peer urls not provided");
  return urls;
}

void PrintDoc(LiveFormat format, const Json& doc) {
  if (format == LiveFormat::kYaml)
    PrintYaml(std::cout, doc);
  else
    PrintJson(std::cout, doc);
}

Result<void> RunList(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  auto client = CPR_TRY(MakeClient(f.client));
  client::MembersResponse r = CPR_TRY(client->MemberList());
  if (format == LiveFormat::kJson || format == LiveFormat::kYaml) {
    PrintDoc(format, MembersJson(r.header, r.members));
    return {};
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : r.members) rows.push_back(MemberListRow(m));
  PrintRows(std::cout, format == LiveFormat::kSimple, MemberListHeader(), rows);
  return {};
}

Result<void> RunAdd(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  const std::vector<std::string> urls = CPR_TRY(PeerUrls(f.peer_urls));
  auto client = CPR_TRY(MakeClient(f.client));
  client::MemberAddResponse r = CPR_TRY(client->MemberAdd(urls, f.learner));
  if (format == LiveFormat::kJson || format == LiveFormat::kYaml) {
    Json j = Json::object();
    j["header"] = HeaderJson(r.header);
    j["member"] = MemberJson(r.member);
    Json list = Json::array();
    for (const auto& m : r.members) list.push_back(MemberJson(m));
    if (!r.members.empty()) j["members"] = list;
    PrintDoc(format, j);
    return {};
  }
  // etcdctl's simple output: the environment for starting the new member.
  std::cout << fmt::format("Member {} added to cluster {}\n", Hex16(r.member.id),
                           Hex16(r.header.cluster_id));
  std::string conf;
  for (const auto& m : r.members) {
    for (const auto& u : m.peer_urls) {
      if (!conf.empty()) conf += ",";
      conf += (m.id == r.member.id ? f.name : m.name) + "=" + u;
    }
  }
  std::cout << "\n";
  std::cout << fmt::format("ETCD_NAME=\"{}\"\n", f.name);
  std::cout << fmt::format("ETCD_INITIAL_CLUSTER=\"{}\"\n", conf);
  std::cout << fmt::format("ETCD_INITIAL_ADVERTISE_PEER_URLS=\"{}\"\n", f.peer_urls);
  std::cout << "ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n";
  return {};
}

// remove, update and promote answer with the member list.
Result<void> PrintChange(const Flags& f, uint64_t id, const client::MembersResponse& r,
                         const char* verb) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  if (format == LiveFormat::kJson || format == LiveFormat::kYaml) {
    PrintDoc(format, MembersJson(r.header, r.members));
    return {};
  }
  std::cout << fmt::format("Member {} {} cluster {}\n", Hex16(id), verb,
                           Hex16(r.header.cluster_id));
  return {};
}

Result<void> RunRemove(const Flags& f) {
  CPR_RETURN_IF_ERROR(LiveFormatFrom(f.client));
  const uint64_t id = CPR_TRY(ParseMemberId(f.id));
  auto client = CPR_TRY(MakeClient(f.client));
  client::MembersResponse r = CPR_TRY(client->MemberRemove(id));
  return PrintChange(f, id, r, "removed from");
}

Result<void> RunUpdate(const Flags& f) {
  CPR_RETURN_IF_ERROR(LiveFormatFrom(f.client));
  const uint64_t id = CPR_TRY(ParseMemberId(f.id));
  const std::vector<std::string> urls = CPR_TRY(PeerUrls(f.peer_urls));
  auto client = CPR_TRY(MakeClient(f.client));
  client::MembersResponse r = CPR_TRY(client->MemberUpdate(id, urls));
  return PrintChange(f, id, r, "updated in");
}

Result<void> RunPromote(const Flags& f) {
  CPR_RETURN_IF_ERROR(LiveFormatFrom(f.client));
  const uint64_t id = CPR_TRY(ParseMemberId(f.id));
  auto client = CPR_TRY(MakeClient(f.client));
  client::MembersResponse r = CPR_TRY(client->MemberPromote(id));
  return PrintChange(f, id, r, "promoted in");
}

Result<void> RunRecover(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  if (format != LiveFormat::kTable && format != LiveFormat::kJson)
    return MakeError(Code::kInvalidArgument, "-w", "member recover prints table or json");
  procedures::MemberRecoverOptions o;
  o.root = f.root;
  o.name = f.name;
  o.peer_url = f.peer_url;
  o.survivor = CPR_TRY(ClientConfigFrom(f.client));
  o.recovery_file = f.kubeconfig;
  o.wait_seconds = f.wait;
  o.out = [](const std::string& line) { std::cerr << line << '\n'; };
  procedures::MemberRecoverPlan plan;
  procedures::ProcedureReport report;
  auto r = procedures::MemberRecover(o, f.dry_run, &plan, &report);
  if (format == LiveFormat::kJson) {
    Json j{{"procedure", "member-recover"},
           {"ok", r.has_value()},
           {"dry_run", f.dry_run},
           {"member", plan.name},
           {"state", procedures::JoinStateName(plan.state)},
           {"notes", plan.notes},
           {"seconds", report.seconds},
           {"steps", StepsJson(report)}};
    if (!r) j["error"] = r.error().ToString();
    PrintJson(std::cout, j);
  } else if (r && report.steps.empty() && plan.state == procedures::JoinState::kJoined) {
    std::cout << fmt::format("member {} ({}) already joined: nothing to do\n", plan.name,
                             Hex16(plan.member_id));
  } else if (!report.steps.empty()) {
    PrintProcedureReport(
        std::cout, "",
        fmt::format("member {} ({})", plan.name, procedures::JoinStateName(plan.state)), report,
        f.dry_run);
    for (const auto& n : plan.notes) std::cout << "note: " << n << '\n';
  }
  return r ? Result<void>() : Result<void>(r.error());
}

}  // namespace

void AddMemberCommand(CLI::App& app, RunState& state) {
  CLI::App* member =
      app.add_subcommand("member", "Membership of a live etcd cluster (as etcdctl member)");
  member->require_subcommand(1);
  // One Flags per subcommand: CLI11 reads ETCDCTL_* into every subcommand's
  // options, so shared variables would let the environment beat a flag.
  auto leaf = [&](const char* name, const char* help, Result<void> (*fn)(const Flags&)) {
    auto f = std::make_shared<Flags>();
    CLI::App* c = member->add_subcommand(name, help);
    c->callback([&state, f, fn] {
      if (auto r = fn(*f); !r) state.exit_code = ReportError(r.error());
    });
    return std::pair{c, f};
  };

  auto [list, lf] = leaf("list", "List the members (ID, status, name, URLs, learner)", RunList);
  AddClientFlags(list, &lf->client);

  auto [add, af] = leaf("add", "Add a member (a learner with --learner)", RunAdd);
  add->add_option("NAME", af->name, "name of the new member")->required();
  add->add_option("--peer-urls", af->peer_urls, "comma-separated peer URLs of the new member")
      ->required();
  add->add_flag("--learner", af->learner, "add it as a raft learner (non-voting)");
  AddClientFlags(add, &af->client);

  auto [remove, rf] = leaf("remove", "Remove a member", RunRemove);
  remove->add_option("MEMBER_ID", rf->id, "member ID in hex")->required();
  AddClientFlags(remove, &rf->client);

  auto [update, uf] = leaf("update", "Change a member's peer URLs", RunUpdate);
  update->add_option("MEMBER_ID", uf->id, "member ID in hex")->required();
  update->add_option("--peer-urls", uf->peer_urls, "comma-separated peer URLs")->required();
  AddClientFlags(update, &uf->client);

  auto [promote, pf] = leaf("promote", "Promote a learner to a voting member", RunPromote);
  promote->add_option("MEMBER_ID", pf->id, "member ID in hex")->required();
  AddClientFlags(promote, &pf->client);

  auto [recover, vf] = leaf(
      "recover",
      "On a new master: join the restored cluster (seed §3.2 steps 2-5): certificates from the "
      "temporary signer, added as a learner through the survivor, etcd's manifest written "
      "(INITIAL_CLUSTER_STATE existing), caught up, promoted",
      RunRecover);
  recover->add_option("--name", vf->name, "This master's member name")->required();
  recover->add_option("--peer-url", vf->peer_url, "This master's peer URL, https://IP:2380")
      ->required();
  recover
      ->add_option("--kubeconfig", vf->kubeconfig,
                   "The recovery file of `cpr signer token NAME --profile member --kubeconfig "
                   "FILE` (signer URL, CA, token)")
      ->required();
  recover
      ->add_option("--root", vf->root,
                   "This master's root (its /etc/kubernetes, /etc/ssl/etcd, "
                   "/var/lib/etcd)")
      ->capture_default_str();
  StrictInt(recover->add_option("--wait", vf->wait,
                                "Seconds each wait may take: a turn to join (etcd 3.4 admits one "
                                "learner at a time), catch-up, promotion"),
            1, 3600)
      ->capture_default_str();
  recover->add_flag("--dry-run", vf->dry_run,
                    "Print the plan (where this host stands) and change nothing");
  AddClientFlags(recover, &vf->client);
  recover->footer(
      "--endpoints and the TLS flags reach the survivor (an admin client certificate). Steps: "
      "certificates, add-learner, start-etcd, catch-up, promote, report; journaled under "
      "ROOT/var/lib/cpr/journal. Run again after a kill, or on a host left half-joined (added, "
      "never started; started, never promoted): it finishes the join. On a joined host it "
      "changes nothing. Two hosts may run it at once: they take turns.");
}

}  // namespace cpr::cli
