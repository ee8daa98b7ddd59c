// cpr: control-plane recovery for etcd-backed clusters.
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <iostream>

#include "cli/command.h"

namespace cpr::cli {

int ReportError(const Error& error) {
  std::cerr << "cpr: " << error.ToString() << '\n';
  // kInvalidArgument is what a command reports about its own flags.
  return error.code == Code::kInvalidArgument ? 2 : 1;
}

std::string SelfExe() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("cpr");
}

}  // namespace cpr::cli

int main(int argc, char** argv) {
  CLI::App app{
      "cpr: disaster recovery for etcd-backed control planes (OpenShift, Kubernetes).\n"
      "Reads, verifies and inspects etcd snapshots offline; see `cpr <command> --help`.",
      "cpr"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show the help of every command");
  cpr::cli::RunState state;
  // One line per command.
  cpr::cli::AddSnapshotCommand(app, state);
  cpr::cli::AddBackupCommand(app, state);
  cpr::cli::AddMemberCommand(app, state);
  cpr::cli::AddEndpointCommand(app, state);
  cpr::cli::AddAlarmCommand(app, state);
  cpr::cli::AddDefragCommand(app, state);
  cpr::cli::AddKvCommand(app, state);
  cpr::cli::AddPkiCommand(app, state);
  cpr::cli::AddCertsCommand(app, state);
  cpr::cli::AddSignerCommand(app, state);
  cpr::cli::AddRecoveryApiCommand(app, state);
  cpr::cli::AddCsrCommand(app, state);
  cpr::cli::AddRestoreQuorumCommand(app, state);
  cpr::cli::AddRestoreClusterCommand(app, state);
  cpr::cli::AddDrillCommand(app, state);
  cpr::cli::AddSurveyCommand(app, state);
  cpr::cli::AddLabCommand(app, state);
  std::vector<std::string> args = cpr::cli::EtcdctlArgs(argc, argv);
  std::reverse(args.begin(), args.end());  // CLI11 takes the words last first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return cpr::cli::ReportUsageError(app, e);
  }
  return state.exit_code;
}
