// A thin HTTPS server for CPR's endpoints: everything HTTP-facing is one
// handler function from a Request (method, path, query, headers, body, the
// verified client certificate) to a Response (status, content type, body or
// a stream), so the endpoint logic never sees the HTTP library and can move
// to another server implementation unchanged.
//
// TLS >= 1.2 with the given serving certificate; client certificates are
// requested (not required) and, when sent, must verify against `client_cas`
// or the handshake fails, so a Request's `peer` is always a verified one.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "https/listen.h"
#include "pki/cert.h"
#include "pki/key.h"
#include "util/result.h"

namespace cpr::https {

// The client certificate a request came with (verified by the TLS layer).
struct PeerCert {
  bool present = false;
  std::string common_name;
  std::vector<std::string> organizations;
};

struct Request {
  std::string method, path;
  std::multimap<std::string, std::string> query;  // decoded
  std::map<std::string, std::string> headers;     // names lower-case
  std::string body;
  PeerCert peer;
  std::string remote;  // "ip:port", for logs

  std::string Header(const std::string& lower_name) const;
  std::string Query(const std::string& name) const;  // "" when absent
  bool HasQuery(const std::string& name) const { return query.count(name) != 0; }
};

// Writes one chunk of a streamed answer; false when the client is gone.
using StreamWriter = std::function<bool(std::string_view)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, the answer is streamed (chunked): called once, returns when done.
  std::function<void(const StreamWriter&)> stream;
};

using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  ListenAddress listen;
  pki::Certificate cert;
  pki::PrivateKey key;
  std::vector<pki::Certificate> client_cas;  // trusted for client certificates
  size_t max_body = 1 << 20;
  int io_timeout_seconds = 10;
};

class Server {
 public:
  // Binds the address (an error names it when taken or foreign).
  static Result<std::unique_ptr<Server>> Bind(const ServerOptions& options, Handler handler);
  ~Server();
  // Serves until Stop(); REQUIRES: called once.
  void Run();
  // From any thread; Run() returns once running requests end.
  void Stop();
  bool running() const;

 private:
  Server() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A serving certificate for `listen` (an IP or DNS SAN) issued by `ca`,
// valid from now - backdate until `not_after` (capped at the CA's).
Result<pki::Certificate> IssueServingCert(const ListenAddress& listen,
                                          const std::vector<std::string>& extra_dns,
                                          const pki::Name& subject, const pki::PrivateKey& key,
                                          const pki::Certificate& ca, const pki::PrivateKey& ca_key,
                                          int64_t now, int64_t not_after);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread; call before
// starting threads, so that only WaitForStopSignal receives them.
void BlockStopSignals();
// Waits for one of those signals (returns its number) or until
// `should_stop` says so (polled every 200 ms; returns 0).
int WaitForStopSignal(const std::function<bool()>& should_stop);

}  // namespace cpr::https
