// `cpr signer serve|stop` and the signer's state dir.
//
// State dir (default /var/lib/cpr/signer, 0700):
//   signer.lock   flock held by the serving process: a second signer on the
//                 same state is refused, `stop` knows whether one runs
//   signer.json   pid, URL, listen address, expiry of the running signer
//   ca.crt        the CAs it signs with (etcd CA, then metrics CA), for
//                 clients to pin (`certs request --cacert`)
//   tokens.json   token hashes (token_store.h); audit.log; issued/*.crt
//
// The signer serves HTTPS (TLS >= 1.2, https/server.h: deadlines, connection
// caps, the token checked before the body is read) on the address given, with a serving
// certificate issued in memory from the etcd CA for that address (and the
// --dns names); clients that send no SNI get the same certificate. It runs
// until `cpr signer stop` (SIGTERM), SIGINT, or its TTL, then revokes every
// unspent token.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "https/address.h"
#include "signer/ca_source.h"
#include "util/result.h"

namespace cpr::signer {

inline constexpr const char* kDefaultStateDir = "/var/lib/cpr/signer";

struct ServeOptions {
  std::string listen;  // "127.0.0.51:9943", "[::1]:9943"; required, never a wildcard
  std::string state_dir = kDefaultStateDir;
  std::vector<std::string> dns;             // --dns: allowed SANs besides each host's own
  int64_t ttl = 3600;                       // seconds
  int64_t max_cert_lifetime = 365 * 86400;  // --validity
};

using ListenAddress = https::HostPort;
// Parses ADDR:PORT; refuses wildcards in any spelling (https/address.h).
Result<ListenAddress> ParseListen(const std::string& text);

// Runs the signer in this process until stopped. Prints one line to stdout
// once it listens.
Result<void> Serve(const ServeOptions& options, const SigningCas& cas);

struct RunningSigner {
  int pid = 0;
  std::string url, listen, ca_file;
  int64_t started = 0, expires = 0;
};
// The signer running on `state_dir`, nullopt if none (the lock is free).
Result<std::optional<RunningSigner>> FindRunningSigner(const std::string& state_dir);

struct StopResult {
  std::optional<int> pid;  // the signer stopped, if one ran
  int revoked = 0;         // unspent tokens revoked
};
// Stops the signer on `state_dir` (SIGTERM to the pid in signer.json, after
// checking it is a `cpr signer serve`; waits up to `wait_seconds`) and
// revokes every unspent token. No signer running is not an error.
Result<StopResult> StopSigner(const std::string& state_dir, int wait_seconds = 15);

}  // namespace cpr::signer
