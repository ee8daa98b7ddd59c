// The command table: each top-level command registers its CLI11 subcommand
// in one function; main() lists them (one line per command).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::cli {

// Where a command's callback leaves its exit code: 0 ok, 1 failure, 2 usage.
struct RunState {
  int exit_code = 0;
};

// Prints "cpr: <error>" to stderr and returns the exit code for it.
int ReportError(const Error& error);

// This cpr binary's path (/proc/self/exe): what the lab's runners run.
std::string SelfExe();

// Makes an integer option strict (cli/int_flag.cc): decimal digits with an
// optional '-', nothing else, within [min, max]; anything else is a usage
// error (exit 2) naming the flag. `hint` is said with an out-of-range value.
CLI::Option* StrictInt(CLI::Option* option, int64_t min, int64_t max = INT64_MAX,
                       const std::string& hint = "");

// Adds -w/--write-out to `cmd`, read from ETCDCTL_WRITE_OUT too (a flag
// wins over the variable), as every etcdctl command has it (cli/usage.cc).
CLI::Option* AddWriteOut(CLI::App* cmd, std::string* format, const std::string& help);

// argv without the program name, with pflag's `-w=json` split into `-w json`
// (CLI11 would read "=json"); words after "--" are left as they are.
std::vector<std::string> EtcdctlArgs(int argc, char** argv);

// Says what went wrong in a failed parse and returns the exit code: an
// unknown command or flag is named, with the nearest one and the commands
// that exist; a bare `cpr` or `cpr member` prints its help (exit 0, as
// etcdctl); anything else as CLI11 says it (exit 2).
int ReportUsageError(const CLI::App& app, const CLI::ParseError& e);

void AddSnapshotCommand(CLI::App& app, RunState& state);
// `cpr snapshot restore`, registered under the snapshot command.
void AddSnapshotRestore(CLI::App& snapshot, RunState& state);
// Live clusters (etcd v3 gRPC; cmd_backup.cc, cmd_member.cc, ...).
void AddBackupCommand(CLI::App& app, RunState& state);
void AddMemberCommand(CLI::App& app, RunState& state);
void AddEndpointCommand(CLI::App& app, RunState& state);
void AddAlarmCommand(CLI::App& app, RunState& state);
void AddDefragCommand(CLI::App& app, RunState& state);
void AddKvCommand(CLI::App& app, RunState& state);
// Certificates and the temporary signer (cmd_pki.cc, cmd_certs.cc, cmd_signer.cc).
void AddPkiCommand(CLI::App& app, RunState& state);
void AddCertsCommand(CLI::App& app, RunState& state);
void AddSignerCommand(CLI::App& app, RunState& state);
// The recovery API, its kubeconfigs and CSRs (cmd_recovery_api.cc, cmd_csr.cc).
void AddRecoveryApiCommand(CLI::App& app, RunState& state);
void AddCsrCommand(CLI::App& app, RunState& state);
// Host procedures and the lab (cmd_restore.cc, cmd_drill.cc, cmd_lab.cc).
void AddRestoreQuorumCommand(CLI::App& app, RunState& state);
void AddRestoreClusterCommand(CLI::App& app, RunState& state);
void AddDrillCommand(CLI::App& app, RunState& state);
void AddLabCommand(CLI::App& app, RunState& state);
void AddSurveyCommand(CLI::App& app, RunState& state);

}  // namespace cpr::cli
