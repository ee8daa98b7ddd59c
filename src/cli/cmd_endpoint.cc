// `cpr endpoint status|health|hashkv [--cluster]`: per-member state, as
// etcdctl 3.4's `endpoint` commands: one row per endpoint (--endpoints, or
// every client URL of the member list with --cluster), failures named on
// stderr and exit 1 when any endpoint failed.
#include <fmt/format.h>

#include <chrono>
#include <future>
#include <iostream>

#include "cli/client_flags.h"
#include "cli/command.h"
#include "cli/live_output.h"
#include "util/duration.h"
#include "util/text.h"

namespace cpr::cli {

Result<std::vector<std::string>> TargetEndpoints(client::Client& c, bool cluster) {
  std::vector<std::string> out;
  if (!cluster) {
    for (const auto& e : c.config().endpoints) out.push_back(e.text);
    return out;
  }
  client::MembersResponse r = CPR_TRY(c.MemberList());
  for (const auto& m : r.members)
    for (const auto& u : m.client_urls) out.push_back(u);
  if (out.empty())
    return MakeError(Code::kFailedPrecondition, "--cluster", "the member list has no client URLs");
  return out;
}

namespace {

struct Flags {
  ClientFlags client;
  bool cluster = false;
  int64_t rev = 0;
};

void PrintDoc(LiveFormat format, const Json& doc) {
  if (format == LiveFormat::kYaml)
    PrintYaml(std::cout, doc);
  else
    PrintJson(std::cout, doc);
}

Result<void> RunStatus(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  auto client = CPR_TRY(MakeClient(f.client));
  const std::vector<std::string> eps = CPR_TRY(TargetEndpoints(*client, f.cluster));
  std::optional<Error> failed;
  Json doc = Json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& ep : eps) {
    auto r = client->Status(ep);
    if (!r) {
      std::cerr << fmt::format("Failed to get the status of endpoint {} ({})\n", ep,
                               r.error().ToString());
      failed = r.error();
      continue;
    }
    const client::StatusResponse& s = *r;
    doc.push_back(Json{{"Endpoint", ep}, {"Status", StatusJson(s)}});
    std::string errors;
    for (size_t i = 0; i < s.errors.size(); i++) errors += (i ? ", " : "") + s.errors[i];
    rows.push_back({ep, Hex(s.header.member_id), s.version,
                    HumanizeBytes(static_cast<uint64_t>(s.db_size)),
                    s.leader == s.header.member_id ? "true" : "false",
                    s.is_learner ? "true" : "false", std::to_string(s.raft_term),
                    std::to_string(s.raft_index), std::to_string(s.raft_applied_index), errors});
  }
  if (format == LiveFormat::kJson || format == LiveFormat::kYaml)
    PrintDoc(format, doc);
  else
    PrintRows(std::cout, format == LiveFormat::kSimple,
              {"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM",
               "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"},
              rows);
  if (failed) return MakeError(failed->code, "endpoint status", "some endpoints failed (above)");
  return {};
}

Result<void> RunHealth(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  auto client = CPR_TRY(MakeClient(f.client));
  const std::vector<std::string> eps = CPR_TRY(TargetEndpoints(*client, f.cluster));
  struct Health {
    std::string ep;
    bool ok = false;
    std::string took, error;
  };
  // Concurrently, as etcdctl: a dead member costs one timeout, not one each.
  std::vector<std::future<Health>> futures;
  for (const auto& ep : eps) {
    futures.push_back(std::async(std::launch::async, [&client, ep] {
      const auto t0 = std::chrono::steady_clock::now();
      auto r = client->Health(ep);
      Health h;
      h.ep = ep;
      h.took = FormatGoDuration(std::chrono::steady_clock::now() - t0);
      h.ok = r.has_value();
      if (!r) h.error = r.error().ToString();
      return h;
    }));
  }
  std::vector<Health> all;
  for (auto& fut : futures) all.push_back(fut.get());
  bool unhealthy = false;
  Json doc = Json::array();
  std::vector<std::vector<std::string>> rows;
  for (const Health& h : all) {
    unhealthy = unhealthy || !h.ok;
    Json j{{"endpoint", h.ep}, {"health", h.ok}, {"took", h.took}};
    if (!h.error.empty()) j["error"] = h.error;
    doc.push_back(j);
    rows.push_back({h.ep, h.ok ? "true" : "false", h.took, h.error});
  }
  if (format == LiveFormat::kJson || format == LiveFormat::kYaml) {
    PrintDoc(format, doc);
  } else if (format == LiveFormat::kSimple) {
    for (const Health& h : all) {
      if (h.ok)
        std::cout << fmt::format("{} is healthy: successfully committed proposal: took = {}\n",
                                 h.ep, h.took);
      else
        std::cout << fmt::format("{} is unhealthy: failed to commit proposal: {}\n", h.ep, h.error);
    }
  } else {
    PrintRows(std::cout, false, {"ENDPOINT", "HEALTH", "TOOK", "ERROR"}, rows);
  }
  if (unhealthy) return MakeError(Code::kUnavailable, "endpoint health", "unhealthy cluster");
  return {};
}

Result<void> RunHashKV(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  if (f.rev < 0) return MakeError(Code::kInvalidArgument, "--rev", "must be >= 0");
  auto client = CPR_TRY(MakeClient(f.client));
  const std::vector<std::string> eps = CPR_TRY(TargetEndpoints(*client, f.cluster));
  std::optional<Error> failed;
  Json doc = Json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& ep : eps) {
    auto r = client->HashKV(ep, f.rev);
    if (!r) {
      std::cerr << fmt::format("Failed to get the hash of endpoint {} ({})\n", ep,
                               r.error().ToString());
      failed = r.error();
      continue;
    }
    doc.push_back(Json{{"Endpoint", ep}, {"HashKV", HashKVJson(*r)}});
    rows.push_back({ep, std::to_string(r->hash)});
  }
  if (format == LiveFormat::kJson || format == LiveFormat::kYaml)
    PrintDoc(format, doc);
  else
    PrintRows(std::cout, format == LiveFormat::kSimple, {"ENDPOINT", "HASH"}, rows);
  if (failed) return MakeError(failed->code, "endpoint hashkv", "some endpoints failed (above)");
  return {};
}

}  // namespace

void AddEndpointCommand(CLI::App& app, RunState& state) {
  CLI::App* ep = app.add_subcommand("endpoint", "State of each etcd member (as etcdctl endpoint)");
  ep->require_subcommand(1);
  // One Flags per subcommand (see cmd_member.cc).
  auto leaf = [&](const char* name, const char* help, Result<void> (*fn)(const Flags&)) {
    auto f = std::make_shared<Flags>();
    CLI::App* c = ep->add_subcommand(name, help);
    c->add_flag("--cluster", f->cluster, "use every client URL from the cluster's member list");
    c->callback([&state, f, fn] {
      if (auto r = fn(*f); !r) state.exit_code = ReportError(r.error());
    });
    return std::pair{c, f};
  };
  auto [status, sf] = leaf(
      "status", "Version, db size, leader, raft term/index and errors of each endpoint", RunStatus);
  AddClientFlags(status, &sf->client);
  auto [health, hf] =
      leaf("health", "A linearizable read on each endpoint (healthy when it commits)", RunHealth);
  AddClientFlags(health, &hf->client);
  auto [hashkv, kf] = leaf("hashkv", "The KV history hash of each endpoint", RunHashKV);
  StrictInt(
      hashkv->add_option("--rev", kf->rev, "maximum revision to hash (default: all revisions)"), 0);
  AddClientFlags(hashkv, &kf->client);
}

}  // namespace cpr::cli
