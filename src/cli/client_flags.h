// The flags every live-cluster command shares, with etcdctl's names,
// defaults and ETCDCTL_* environment variables (a flag on the command line
// wins over the variable):
//   --endpoints (ETCDCTL_ENDPOINTS, default 127.0.0.1:2379)
//   --cacert --cert --key (ETCDCTL_CACERT, _CERT, _KEY)
//   --user NAME[:PASSWORD] --password (ETCDCTL_USER, _PASSWORD)
//   --dial-timeout (2s) --command-timeout (5s), Go durations
//     (ETCDCTL_DIAL_TIMEOUT, _COMMAND_TIMEOUT)
//   -w/--write-out simple|table|json|yaml (ETCDCTL_WRITE_OUT)
//   --hex: keys and values as \x.. escapes in simple output (ETCDCTL_HEX)
//   --insecure-transport (default true; false: TLS even without --cacert)
//   --insecure-skip-tls-verify: accepted, but CPR verifies anyway and says so
// and how a command's output format is chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cli/output.h"
#include "client/client.h"
#include "util/result.h"

namespace cpr::cli {

struct ClientFlags {
  std::string endpoints = "127.0.0.1:2379";
  std::string cacert, cert, key;
  std::string user, password;
  std::string dial_timeout = "2s";
  std::string command_timeout = "5s";
  std::string format = "table";
  bool hex = false;
  bool insecure_transport = true;
  bool insecure_skip_tls_verify = false;
};

// Adds the flags above to one (leaf) subcommand.
void AddClientFlags(CLI::App* cmd, ClientFlags* flags);

// Parses the flags into a client configuration; asks for the password on
// the terminal when --user has none (as etcdctl does).
Result<client::Config> ClientConfigFrom(const ClientFlags& flags);
Result<std::unique_ptr<client::Client>> MakeClient(const ClientFlags& flags);

// Output formats of the live commands: etcdctl's `simple` (comma-separated
// lines) besides table, json and yaml.
enum class LiveFormat { kSimple, kTable, kJson, kYaml };
Result<LiveFormat> LiveFormatFrom(const ClientFlags& flags);

// The endpoints a per-member command visits: --endpoints as given, or with
// --cluster every client URL in the member list (as etcdctl's --cluster).
Result<std::vector<std::string>> TargetEndpoints(client::Client& c, bool cluster);

}  // namespace cpr::cli
