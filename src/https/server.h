// CPR's HTTPS server: the temporary signer serves with it, and the recovery
// API is meant to (a handler from method, path, query, headers, body and the
// authenticated peer to a response, or a chunked stream for `watch`).
//
// Concurrency: a thread per connection, every connection under hard limits.
// These servers face a handful of operators and nodes, and their handlers
// block (signing, fsync, etcd reads; a watch waits for events), so an event
// loop would still need a worker pool behind it; a thread per connection keeps
// handlers and streams plain sequential code. What keeps slow and idle
// clients from starving others is the limits, not the model:
//   * deadlines per connection for the TLS handshake, the whole request head
//     (not per line), the body and each response write; a keep-alive
//     connection may idle only briefly between requests and serves a bounded
//     number of them;
//   * at most max_connections connections, at most max_per_peer from one
//     peer address: beyond that a connection is closed at once, before TLS;
//   * so a peer holds at most max_per_peer threads, each for at most the
//     deadlines above, and a request from anyone else gets its own thread at
//     once.
// Requests are admitted in two steps: `admit` sees the head (route and
// credentials) before the body is read, so an unauthenticated caller never
// reaches a body parser; `handle` gets the whole request. Refusals made
// before `handle` (by the server or by `admit`) are logged with the peer
// address through a RefusalLog, so strangers cannot grow the log at will.
#pragma once

#include <openssl/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "https/address.h"
#include "https/refusal_log.h"
#include "https/request_head.h"
#include "pki/cert.h"
#include "pki/key.h"
#include "util/result.h"

namespace cpr::https {

struct Limits {
  int max_connections = 256;
  int max_per_peer = 32;  // per peer IP address
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds head_timeout{10000};   // the whole head, from its first byte
  std::chrono::milliseconds body_timeout{10000};   // the whole body, from the end of the head
  std::chrono::milliseconds idle_timeout{5000};    // between requests on a kept-alive connection
  std::chrono::milliseconds write_timeout{10000};  // each response (each chunk when streaming)
  HeadLimits head;
  size_t max_body = 64 * 1024;
  int max_requests_per_connection = 100;
  // No new request is read on a connection older than this (a stream may
  // run past it: its handler decides when it ends).
  std::chrono::seconds max_connection_age{300};
};

// Who sent a request.
struct Peer {
  std::string address;  // "192.0.2.1:40000", "[2001:db8::1]:40000"
  std::string ip;       // without the port: what connection limits count by
  // The client certificate chain verified against TlsConfig::client_cas,
  // leaf first; empty if none was sent (or no client CAs are configured).
  std::vector<pki::Certificate> client_chain;
};

struct Request {
  RequestHead head;  // method, path, query, headers
  std::string body;  // empty in `admit`
  const Peer* peer = nullptr;
  // The bearer token of the Authorization header; "" if none.
  std::string BearerToken() const;
};

// Writes the chunks of a streamed response.
class ChunkWriter {
 public:
  virtual ~ChunkWriter() = default;
  // One chunk (empty data is skipped). False once the peer is gone, a write
  // missed its deadline, or the server is stopping: the stream should end.
  virtual bool Write(std::string_view data) = 0;
  // False once the server is stopping or the connection is lost.
  virtual bool Open() const = 0;
  // Waits up to `d` while there is nothing to send (a watch between
  // events); false as soon as the client leaves or the server stops, when
  // the stream should end.
  virtual bool Wait(std::chrono::milliseconds d) = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
  // Streaming: when set, the response is sent with Transfer-Encoding: chunked
  // (`body` ignored) and `stream` writes its chunks; the connection is not
  // reused afterwards.
  std::function<void(ChunkWriter&)> stream;
  // Why a request was refused, for the log line the server writes when the
  // refusal comes from `admit` (never sent).
  std::string log_reason;
};

// A refusal: a Kubernetes Status (status.h) with `message`, also its log_reason.
Response StatusResponse(int status, const std::string& message);

struct Handler {
  // Sees each request without its body: nullopt admits it (the body is read
  // and `handle` called); a response refuses it, unread, and is logged
  // (rate-limited, with the peer address and log_reason).
  std::function<std::optional<Response>(const Request&)> admit;
  std::function<Response(const Request&)> handle;
  // Where refusal lines go (the server adds "refused from=PEER ..."); the
  // server rate-limits them.
  std::function<void(const std::string&)> log;
};

struct TlsConfig {
  pki::Certificate cert;
  std::vector<pki::Certificate> chain;  // intermediates sent after `cert`
  pki::PrivateKey key;
  // When not empty, clients may present certificates, verified against
  // these; a presented certificate that does not verify fails the handshake.
  std::vector<pki::Certificate> client_cas;
};

class Server {
 public:
  // Binds `where` (ResolveListen: never a wildcard), not listening yet: a
  // caller finishes its own setup between Bind and Listen, so that a port
  // that accepts connections means a server that is ready.
  static Result<std::unique_ptr<Server>> Bind(const HostPort& where, const TlsConfig& tls,
                                              const Limits& limits, Handler handler,
                                              RefusalLog::Config log_config = {});
  // Starts listening (connections queue until Run).
  Result<void> Listen();
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until Stop(); then closes every connection and returns once their
  // threads have ended.
  void Run();
  // From any thread (not from a signal handler).
  void Stop();

  // The port bound (useful with port 0 in tests).
  int port() const { return port_; }

 private:
  Server() = default;
  struct Conn;
  class Chunks;
  void Serve(const std::shared_ptr<Conn>& conn);
  bool Admit(int fd, const std::string& ip, const std::string& address);
  void Release(const std::shared_ptr<Conn>& conn);
  void Refused(const Peer& peer, const std::string& what);

  Limits limits_;
  Handler handler_;
  std::unique_ptr<RefusalLog> refusals_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Stop() wakes Run()
  int port_ = 0;
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  std::condition_variable idle_;
  std::set<std::shared_ptr<Conn>> conns_;
  std::map<std::string, int> per_peer_;
};

}  // namespace cpr::https
