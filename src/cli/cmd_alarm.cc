// `cpr alarm list|disarm`: etcd's cluster alarms (NOSPACE after the quota,
// CORRUPT), as etcdctl 3.4's `alarm` commands. Disarm after a restore or a
// compact + defrag has freed space.
#include <fmt/format.h>

#include <iostream>

#include "cli/client_flags.h"
#include "cli/command.h"
#include "cli/live_output.h"

namespace cpr::cli {
namespace {

Result<void> Print(const ClientFlags& f, const client::AlarmResponse& r) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f));
  switch (format) {
    case LiveFormat::kJson:
      PrintJson(std::cout, AlarmJson(r));
      break;
    case LiveFormat::kYaml:
      PrintYaml(std::cout, AlarmJson(r));
      break;
    case LiveFormat::kSimple:
      // etcdctl prints the protobuf text form: "memberID:123 alarm:NOSPACE "
      for (const auto& a : r.alarms)
        std::cout << fmt::format("memberID:{} alarm:{} \n", a.member_id, AlarmTypeName(a.alarm));
      break;
    case LiveFormat::kTable: {
      std::vector<std::vector<std::string>> rows;
      for (const auto& a : r.alarms)
        rows.push_back({Hex(a.member_id), client::AlarmTypeName(a.alarm)});
      PrintRows(std::cout, false, {"MEMBER ID", "ALARM"}, rows);
      break;
    }
  }
  return {};
}

Result<void> RunList(const ClientFlags& f) {
  CPR_RETURN_IF_ERROR(LiveFormatFrom(f));
  auto client = CPR_TRY(MakeClient(f));
  client::AlarmResponse r = CPR_TRY(client->AlarmList());
  return Print(f, r);
}

Result<void> RunDisarm(const ClientFlags& f) {
  CPR_RETURN_IF_ERROR(LiveFormatFrom(f));
  auto client = CPR_TRY(MakeClient(f));
  client::AlarmResponse r = CPR_TRY(client->AlarmDisarm());
  return Print(f, r);
}

}  // namespace

void AddAlarmCommand(CLI::App& app, RunState& state) {
  CLI::App* alarm = app.add_subcommand("alarm", "Cluster alarms (as etcdctl alarm)");
  alarm->require_subcommand(1);
  // One ClientFlags per subcommand (see cmd_member.cc).
  auto leaf = [&](const char* name, const char* help, Result<void> (*fn)(const ClientFlags&)) {
    auto f = std::make_shared<ClientFlags>();
    CLI::App* c = alarm->add_subcommand(name, help);
    AddClientFlags(c, f.get());
    c->callback([&state, f, fn] {
      if (auto r = fn(*f); !r) state.exit_code = ReportError(r.error());
    });
  };
  leaf("list", "List the raised alarms", RunList);
  leaf("disarm", "Disarm every alarm", RunDisarm);
}

}  // namespace cpr::cli
