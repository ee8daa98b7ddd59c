#include "https/server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include "https/status.h"
#include "https/tls_stream.h"

namespace cpr::https {

struct Server::Conn {
  std::unique_ptr<TlsStream> stream;
  Peer peer;
};

namespace {

// A log value: printable ASCII, bounded, so a request cannot forge log lines.
std::string Printable(std::string_view v, size_t max = 200) {
  std::string out;
  for (char c : v.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f && c != '"' ? c : '?');
  if (v.size() > max) out += "...";
  return out;
}

std::string Serialize(const Response& r, bool keep_alive, bool chunked) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", r.status, StatusText(r.status));
  if (!r.content_type.empty()) out += "Content-Type: " + r.content_type + "\r\n";
  for (const auto& [k, v] : r.headers) {
    // Handlers choose header names; values must not split the head.
    if (k.find_first_of("\r\n:") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos)
      continue;
    out += k + ": " + v + "\r\n";
  }
  out += chunked ? std::string("Transfer-Encoding: chunked\r\n")
                 : fmt::format("Content-Length: {}\r\n", r.body.size());
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "Cache-Control: no-store\r\n\r\n";
  if (!chunked) out += r.body;
  return out;
}

}  // namespace

Response StatusResponse(int status, const std::string& message) {
  Response r;
  r.status = status;
  r.body = StatusJson(status, message);
  r.log_reason = message;
  return r;
}

std::string Request::BearerToken() const {
  return https::BearerToken(head.Header("authorization"));
}

class Server::Chunks : public ChunkWriter {
 public:
  Chunks(TlsStream* s, const Server* server, std::chrono::milliseconds timeout)
      : s_(s), server_(server), timeout_(timeout) {}
  bool Write(std::string_view data) override {
    if (!Open()) return false;
    if (data.empty()) return true;
    std::string why;
    ok_ = s_->Write(fmt::format("{:x}\r\n", data.size()), Clock::now() + timeout_, &why) &&
          s_->Write(data, Clock::now() + timeout_, &why) &&
          s_->Write("\r\n", Clock::now() + timeout_, &why);
    return ok_;
  }
  bool Open() const override { return ok_ && !server_->stopping_; }
  bool Wait(std::chrono::milliseconds d) override {
    const auto end = Clock::now() + d;
    while (Open()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      if (left.count() <= 0) return true;
      // Slices, so that Stop() is seen; a streaming client sends nothing, so
      // anything readable is its close (or a reset).
      pollfd p{s_->fd(), POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 200))) > 0) ok_ = false;
    }
    return false;
  }

 private:
  TlsStream* s_;
  const Server* server_;
  std::chrono::milliseconds timeout_;
  bool ok_ = true;
};

Result<std::unique_ptr<Server>> Server::Bind(const HostPort& where, const TlsConfig& tls,
                                             const Limits& limits, Handler handler,
                                             RefusalLog::Config log_config) {
  const std::vector<SocketAddress> addrs = CPR_TRY(ResolveListen(where, "--listen"));
  std::unique_ptr<Server> s(new Server());
  s->limits_ = limits;
  s->handler_ = std::move(handler);
  s->refusals_ = std::make_unique<RefusalLog>(s->handler_.log, log_config);

  ERR_clear_error();
  s->ctx_ = SSL_CTX_new(TLS_server_method());
  SSL_CTX* ctx = s->ctx_;
  bool ok = ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
            SSL_CTX_use_certificate(ctx, tls.cert.get()) == 1 &&
            SSL_CTX_use_PrivateKey(ctx, tls.key.get()) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  for (const auto& c : tls.chain) ok = ok && SSL_CTX_add1_chain_cert(ctx, c.get()) == 1;
  if (ok) {
    // No renegotiation (a CPU cost a stranger could impose at will); partial
    // writes retried with a moved buffer are fine.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // No session tickets: connections are few, resumption buys nothing, and
    // a ticket is one more thing sent to a client that has not asked yet.
    SSL_CTX_set_num_tickets(ctx, 0);
    if (!tls.client_cas.empty()) {
      X509_STORE* store = SSL_CTX_get_cert_store(ctx);
      STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
      for (const auto& ca : tls.client_cas) {
        ok = ok && X509_STORE_add_cert(store, ca.get()) == 1;
        sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.get())));
      }
      SSL_CTX_set_client_CA_list(ctx, names);
      // Asked for, not required: bearer-token clients send none.
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    }
  }
  if (!ok) {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    return MakeError(Code::kInternal, "TLS setup", e ? ERR_reason_error_string(e) : "failed");
  }

  const SocketAddress& a = addrs.front();
  s->listen_fd_ = ::socket(a.get()->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->listen_fd_ < 0)
    return MakeError(Code::kIo, "socket", std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(s->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a.get()->sa_family == AF_INET6)
    ::setsockopt(s->listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(s->listen_fd_, a.get(), a.length) != 0)
    return MakeError(Code::kUnavailable, "--listen " + FormatAddress(a.get()),
                     std::string("cannot listen: ") + std::strerror(errno),
                     "is the address on this host, and the port free?");
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  s->port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  s->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake_fd_ < 0)
    return MakeError(Code::kIo, "eventfd", std::string("eventfd: ") + std::strerror(errno));
  return s;
}

Result<void> Server::Listen() {
  if (::listen(listen_fd_, 128) != 0)
    return MakeError(Code::kUnavailable, fmt::format("--listen port {}", port_),
                     std::string("cannot listen: ") + std::strerror(errno), "is the port free?");
  return {};
}

Server::~Server() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (ctx_) SSL_CTX_free(ctx_);
}

void Server::Stop() {
  stopping_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void Server::Refused(const Peer& peer, const std::string& what) {
  refusals_->Write(
      fmt::format("refused from={} reason=\"{}\"", peer.address, Printable(what, 300)));
}

bool Server::Admit(int fd, const std::string& ip, const std::string& address) {
  std::string why;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (static_cast<int>(conns_.size()) >= limits_.max_connections)
      why = fmt::format("connection closed: {} connections open (limit)", conns_.size());
    else if (per_peer_[ip] >= limits_.max_per_peer)
      why = fmt::format("connection closed: {} connections open from {} (limit per address)",
                        per_peer_[ip], ip);
    else
      return true;
    if (per_peer_[ip] == 0) per_peer_.erase(ip);
  }
  ::close(fd);
  refusals_->Write(fmt::format("refused from={} reason=\"{}\"", address, why));
  return false;
}

void Server::Release(const std::shared_ptr<Conn>& conn) {
  std::lock_guard<std::mutex> g(mu_);
  conns_.erase(conn);
  if (--per_peer_[conn->peer.ip] <= 0) per_peer_.erase(conn->peer.ip);
  idle_.notify_all();
}

void Server::Run() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (stopping_ || fds[1].revents) break;
    if (!(fds[0].revents & POLLIN)) continue;
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&from), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // EMFILE and the like: back off a little rather than spin.
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const auto* sa = reinterpret_cast<const sockaddr*>(&from);
    const std::string ip = FormatAddress(sa, false), address = FormatAddress(sa, true);
    if (!Admit(fd, ip, address)) continue;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto conn = std::make_shared<Conn>();
    conn->stream = std::make_unique<TlsStream>(fd, ctx_);
    conn->peer.ip = ip;
    conn->peer.address = address;
    {
      std::lock_guard<std::mutex> g(mu_);
      conns_.insert(conn);
      per_peer_[ip]++;
    }
    try {
      std::thread([this, conn] {
        // OpenSSL writes with plain send(): a peer gone away would raise
        // SIGPIPE, which kills the process. Blocked in this thread, the
        // write fails with EPIPE instead (no process-wide signal change).
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
        Serve(conn);
        Release(conn);
      }).detach();
    } catch (const std::system_error&) {
      // No thread to be had: drop this connection.
      Release(conn);
    }
  }
  // Stop: every connection's socket is shut down, so blocked reads and
  // writes fail now; wait for their threads.
  stopping_ = true;
  std::unique_lock<std::mutex> g(mu_);
  for (const auto& c : conns_) c->stream->Abort();
  idle_.wait(g, [&] { return conns_.empty(); });
}

void Server::Serve(const std::shared_ptr<Conn>& conn) {
  TlsStream& s = *conn->stream;
  Peer& peer = conn->peer;
  std::string why;
  bool quiet = false;
  if (!s.Handshake(Clock::now() + limits_.handshake_timeout, &why, &quiet)) {
    if (!quiet && !stopping_) Refused(peer, why);
    return;
  }
  peer.client_chain = s.VerifiedPeerChain();
  const auto too_old = Clock::now() + limits_.max_connection_age;

  // Sends `r` (with Content-Length; "Connection: close" unless kept).
  auto send = [&](const Response& r, bool keep_alive) {
    return s.Write(Serialize(r, keep_alive, false), Clock::now() + limits_.write_timeout, &why);
  };
  // A refusal before `handle`: logged, sent, connection closed (what the
  // client still sends is drained briefly so it can read the answer).
  auto refuse = [&](const Response& r, const std::string& what) {
    Refused(peer, fmt::format("HTTP {} {}", r.status, what));
    send(r, false);
    s.Close(Clock::now() + std::chrono::seconds(2), limits_.max_body * 4);
  };

  std::string buf;  // bytes read and not yet consumed
  char chunk[16 * 1024];
  for (int served = 0; served < limits_.max_requests_per_connection && !stopping_; served++) {
    // The head: the first request's clock starts at the handshake; later
    // ones may idle briefly, then have the whole head deadline from their
    // first byte (at once if it came with the previous request).
    bool started = served == 0 || !buf.empty();
    auto deadline = Clock::now() + (started ? limits_.head_timeout : limits_.idle_timeout);
    size_t head_end = 0;
    while ((head_end = FindHeadEnd(buf)) == 0) {
      if (buf.size() > limits_.head.max_bytes) {
        refuse(
            StatusResponse(431, fmt::format("request head over {} bytes", limits_.head.max_bytes)),
            "before routing: request head too large");
        return;
      }
      const long n = s.Read(chunk, sizeof chunk, deadline, &why);
      if (n == 0) return;  // closed between or during requests
      if (n < 0) {
        if (started && !stopping_)
          refuse(StatusResponse(408, "request head not complete in time"),
                 fmt::format("before routing: request head not complete within {}ms ({} bytes)",
                             limits_.head_timeout.count(), buf.size()));
        return;
      }
      if (!started) {
        started = true;
        deadline = Clock::now() + limits_.head_timeout;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    ParsedHead parsed = ParseRequestHead(std::string_view(buf).substr(0, head_end), limits_.head);
    if (parsed.error) {
      refuse(StatusResponse(parsed.error->status, parsed.error->reason),
             "before routing: " + parsed.error->reason);
      return;
    }
    buf.erase(0, head_end);
    Request req;
    req.head = std::move(*parsed.head);
    req.peer = &peer;
    const std::string what =
        fmt::format("for {} {}", Printable(req.head.method, 16), Printable(req.head.path));
    if (req.head.content_length > limits_.max_body) {
      refuse(StatusResponse(413, fmt::format("request body of {} bytes; the limit is {}",
                                             req.head.content_length, limits_.max_body)),
             fmt::format("{}: body of {} bytes over the limit {}", what, req.head.content_length,
                         limits_.max_body));
      return;
    }
    // Route and authenticate before the body is read.
    std::optional<Response> refused;
    try {
      if (handler_.admit) refused = handler_.admit(req);
    } catch (const std::exception& e) {
      refused = StatusResponse(500, std::string("internal error: ") + e.what());
    }
    if (refused) {
      refuse(*refused, fmt::format("{}: {}", what,
                                   refused->log_reason.empty() ? "refused" : refused->log_reason));
      return;
    }
    if (req.head.expect_continue && req.head.content_length > 0 &&
        !s.Write("HTTP/1.1 100 Continue\r\n\r\n", Clock::now() + limits_.write_timeout, &why))
      return;
    // The body, whole, by its deadline.
    const auto body_deadline = Clock::now() + limits_.body_timeout;
    while (buf.size() < req.head.content_length) {
      const long n = s.Read(chunk, sizeof chunk, body_deadline, &why);
      if (n == 0) return;
      if (n < 0) {
        if (!stopping_)
          refuse(
              StatusResponse(408, "request body not complete in time"),
              fmt::format("{}: body not complete within {}ms", what, limits_.body_timeout.count()));
        return;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    req.body = buf.substr(0, req.head.content_length);
    buf.erase(0, req.head.content_length);

    Response resp;
    try {
      resp = handler_.handle(req);
    } catch (const std::exception& e) {
      Refused(peer, fmt::format("HTTP 500 {}: internal error: {}", what, e.what()));
      resp = StatusResponse(500, "internal error");
    }
    const bool keep = req.head.keep_alive && !stopping_ && !resp.stream &&
                      served + 1 < limits_.max_requests_per_connection && Clock::now() < too_old;
    if (resp.stream) {
      if (!s.Write(Serialize(resp, false, true), Clock::now() + limits_.write_timeout, &why))
        return;
      Chunks writer(&s, this, limits_.write_timeout);
      resp.stream(writer);
      if (writer.Open()) s.Write("0\r\n\r\n", Clock::now() + limits_.write_timeout, &why);
      s.Close(Clock::now() + std::chrono::seconds(1), 0);
      return;
    }
    if (!send(resp, keep)) return;
    if (!keep) {
      s.Close(Clock::now() + std::chrono::seconds(1), 0);
      return;
    }
  }
}

}  // namespace cpr::https
