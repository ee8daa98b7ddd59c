// `cpr defrag [--cluster]`: online defragmentation of each endpoint's
// backend, as etcdctl 3.4's `defrag` (one member at a time: defrag blocks
// that member's reads and writes while it runs).
#include <fmt/format.h>

#include <iostream>

#include "cli/client_flags.h"
#include "cli/command.h"
#include "cli/live_output.h"

namespace cpr::cli {

namespace {

struct Flags {
  ClientFlags client;
  bool cluster = false;
};

Result<void> Run(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  client::Config config = CPR_TRY(ClientConfigFrom(f.client));
  // Defragmenting a large backend takes longer than a usual request.
  if (config.command_timeout < std::chrono::seconds(60) &&
      f.client.command_timeout == ClientFlags().command_timeout)
    config.command_timeout = std::chrono::seconds(60);
  auto client = CPR_TRY(client::Client::Create(std::move(config)));
  const std::vector<std::string> eps = CPR_TRY(TargetEndpoints(*client, f.cluster));
  int failures = 0;
  Json doc = Json::array();
  for (const auto& ep : eps) {
    auto r = client->Defragment(ep);
    Json j{{"Endpoint", ep}, {"defragmented", r.has_value()}};
    if (!r) {
      failures++;
      j["error"] = r.error().ToString();
      std::cerr << fmt::format("Failed to defragment etcd member[{}] ({})\n", ep,
                               r.error().ToString());
    } else if (format != LiveFormat::kJson && format != LiveFormat::kYaml) {
      std::cout << fmt::format("Finished defragmenting etcd member[{}]\n", ep);
    }
    doc.push_back(j);
  }
  if (format == LiveFormat::kJson) PrintJson(std::cout, doc);
  if (format == LiveFormat::kYaml) PrintYaml(std::cout, doc);
  if (failures)
    return MakeError(Code::kUnavailable, "defrag",
                     fmt::format("{} of {} endpoints failed (above)", failures, eps.size()));
  return {};
}

}  // namespace

void AddDefragCommand(CLI::App& app, RunState& state) {
  auto flags = std::make_shared<Flags>();
  CLI::App* defrag =
      app.add_subcommand("defrag", "Defragment each endpoint's backend online (as etcdctl defrag)");
  defrag->add_flag("--cluster", flags->cluster,
                   "use every client URL from the cluster's member list");
  AddClientFlags(defrag, &flags->client);
  defrag->callback([&state, flags] {
    if (auto r = Run(*flags); !r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
