// The etcd member as its runtime configures it. etcd reads each setting from
// a flag or from its ETCD_* twin (op-guide/configuration.md:
// --listen-peer-urls is ETCD_LISTEN_PEER_URLS); every runtime keeps them
// somewhere else: a static pod's command and env, Debian's
// /etc/default/etcd (+ the unit's DAEMON_ARGS), a running process's
// /proc/PID/cmdline and environ. All of them are read here, one way.
//
// Paths and URLs are taken as written: they are what the etcd process sees
// (under --root, as in the lab, they already name the root).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace cpr::host {

using EnvList = std::vector<std::pair<std::string, std::string>>;

struct MemberConfig {
  std::string name;
  std::string data_dir;
  std::string peer_url;                  // the first of --initial-advertise-peer-urls
  std::string client_url;                // the first of --advertise-client-urls
  std::vector<std::string> listen_urls;  // --listen-peer-urls and --listen-client-urls
  // The member's own client-side TLS, as OpenShift's scripts talk to their
  // etcd: its server certificate carries clientAuth. "" where not set.
  std::string trusted_ca_file, cert_file, key_file;
  std::string source;  // where it was read, for messages
};

// The value etcd takes for `flag` (without dashes: "data-dir"): from args
// (--flag V, --flag=V, or Go's single-dash forms), else from the env's
// ETCD_FLAG_NAME; "" when neither sets it. A flag wins (etcd refuses both;
// CPR only reads).
std::string EtcdSetting(const std::vector<std::string>& args, const EnvList& env,
                        std::string_view flag);
// Name, data dir, URLs and TLS files from args and env. etcd's own
// defaults fill the name ("default") and data dir ("<name>.etcd" under
// `cwd`) only when `cwd` is given; a relative data dir is made absolute
// against it.
MemberConfig EtcdMemberConfig(const std::vector<std::string>& args, const EnvList& env,
                              const std::string& source, const std::string& cwd = "");

// A KEY=value file as Debian's /etc/default files are written: sourced by
// the init script's shell (`set -a; . /etc/default/etcd`) and read by
// systemd's EnvironmentFile=. Blank lines and lines starting with # or ;
// are skipped; "export " before a key is allowed; a value may be 'single'
// (literal) or "double" quoted (\" \\ \$ \` escapes; a backslash-newline
// joins lines), unquoted values end at whitespace and a following "#..."
// is a comment. Later assignments win. Refused (naming the line): a line
// that is not KEY=value, an unclosed quote, and $VAR or $(...) outside
// single quotes (CPR does not expand; shell and systemd disagree there).
Result<EnvList> ParseEnvironmentFile(std::string_view text, const std::string& where);

// "K=V" strings (/proc/PID/environ, split) as pairs; entries without '=' are kept with an empty
// value.
EnvList EnvPairs(const std::vector<std::string>& kv);
std::string EnvValue(const EnvList& env, std::string_view key);  // the last; "" if absent

}  // namespace cpr::host
