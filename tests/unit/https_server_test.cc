#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "https/server.h"
#include "pki/issue.h"
#include "pki_testing.h"

namespace cpr::https {
namespace {

using namespace std::chrono_literals;

// A server on 127.0.0.1 (an ephemeral port) with a self-signed certificate,
// run on its own thread.
class TestServer {
 public:
  TestServer(const Limits& limits, Handler handler, std::vector<pki::Certificate> client_cas = {}) {
    auto key = pki::PrivateKey::Generate({});
    pki::CertSpec spec;
    spec.subject = pki::Name::Of("test", {});
    spec.ip_addresses = {"127.0.0.1"};
    spec.ext_key_usages = {pki::kServerAuth};
    spec.not_before = std::time(nullptr) - 60;
    spec.not_after = std::time(nullptr) + 3600;
    auto cert = pki::IssueSelfSigned(spec, *key);
    handler.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> g(mu_);
      log_.push_back(line);
    };
    auto s =
        Server::Bind(HostPort{"127.0.0.1", 0, true},
                     TlsConfig{*cert, {}, *key, std::move(client_cas)}, limits, std::move(handler));
    EXPECT_TRUE(s) << s.error().ToString();
    server_ = std::move(*s);
    EXPECT_TRUE(server_->Listen());
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~TestServer() {
    server_->Stop();
    thread_.join();
  }
  int port() const { return server_->port(); }
  std::string Log() {
    std::lock_guard<std::mutex> g(mu_);
    std::string all;
    for (const auto& l : log_) all += l + "\n";
    return all;
  }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> log_;
};

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// Milliseconds until the server closes `fd` (reads EOF), -1 if not within `max`.
long MsUntilClosed(int fd, std::chrono::milliseconds max) {
  const auto t0 = std::chrono::steady_clock::now();
  char buf[512];
  for (;;) {
    const auto left = max - (std::chrono::steady_clock::now() - t0);
    if (left <= 0ms) return -1;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1,
               static_cast<int>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(left).count())) <= 0)
      return -1;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
          .count();
  }
}

std::atomic<bool> stream_ended{false};

// A TLS client on a blocking socket (no certificate check: the server's is
// self-signed).
class TlsClient {
 public:
  explicit TlsClient(int port)
      : fd_(Connect(port)), ctx_(SSL_CTX_new(TLS_client_method())), ssl_(SSL_new(ctx_)) {
    SSL_set_fd(ssl_, fd_);
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  bool Write(const std::string& s) {
    return SSL_write(ssl_, s.data(), static_cast<int>(s.size())) > 0;
  }
  std::string Read() {
    char buf[4096];
    const int n = SSL_read(ssl_, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fd_;
  SSL_CTX* ctx_;
  SSL* ssl_;
  bool connected_ = false;
};

Handler Echo(std::atomic<int>* handled) {
  Handler h;
  h.admit = [](const Request& r) -> std::optional<Response> {
    if (r.head.path == "/secret" && r.BearerToken() != "let-me-in") {
      Response refused;
      refused.status = 401;
      refused.log_reason = "no valid token";
      return refused;
    }
    if (r.head.path == "/missing") {
      Response nf;
      nf.status = 404;
      nf.log_reason = "no such path";
      return nf;
    }
    return std::nullopt;
  };
  h.handle = [handled](const Request& r) {
    (*handled)++;
    Response out;
    out.content_type = "text/plain";
    if (r.head.path == "/forever") {
      out.stream = [](ChunkWriter& w) {
        const std::string block(16 * 1024, 'x');
        while (w.Write(block)) {
        }
        stream_ended = true;
      };
      return out;
    }
    if (r.head.path == "/wait") {
      out.stream = [](ChunkWriter& w) {
        w.Write("waiting\n");
        while (w.Wait(50ms)) {
        }
        stream_ended = true;
      };
      return out;
    }
    if (r.head.path == "/stream") {
      out.stream = [](ChunkWriter& w) {
        for (const char* part : {"a", "bb", "ccc"}) w.Write(part);
      };
      return out;
    }
    out.body = r.head.method + " " + r.head.path + " " + r.body + " from " + r.peer->ip;
    if (!r.peer->client_chain.empty())
      out.body += " as " + r.peer->client_chain.front().Info().subject.CommonName();
    return out;
  };
  return h;
}

TEST(HttpsServer, ServesAdmitsAndStreams) {
  std::atomic<int> handled{0};
  TestServer ts(Limits{}, Echo(&handled));
  httplib::SSLClient cli("127.0.0.1", ts.port());
  cli.enable_server_certificate_verification(false);
  auto get = cli.Get("/hello");
  ASSERT_TRUE(get) << httplib::to_string(get.error());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "GET /hello  from 127.0.0.1");
  auto post = cli.Post("/secret", {{"Authorization", "Bearer let-me-in"}}, "payload", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->body, "POST /secret payload from 127.0.0.1");
  // Refused before the body is read: the handler never runs.
  const int before = handled;
  auto refused = cli.Post("/secret", "payload", "text/plain");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(handled, before);
  auto stream = cli.Get("/stream");
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->body, "abbccc");
  EXPECT_EQ(stream->get_header_value("Transfer-Encoding"), "chunked");
  // Over the body limit: 413 without reading it.
  auto big = cli.Post("/hello", std::string(65 * 1024, 'x'), "text/plain");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(handled, before + 1);
  const std::string log = ts.Log();
  EXPECT_NE(log.find("refused from=127.0.0.1:"), std::string::npos) << log;
  EXPECT_NE(log.find("HTTP 401 for POST /secret: no valid token"), std::string::npos) << log;
  EXPECT_NE(log.find("HTTP 413 for POST /hello"), std::string::npos) << log;
}

// A CA, and a client certificate and key from it written to `dir`.
struct ClientPki {
  pki::Certificate ca;
  std::string cert_path, key_path;
};
ClientPki MakeClientPki(const std::string& dir, const std::string& cn) {
  auto ca_key = pki::PrivateKey::Generate({});
  pki::CertSpec ca_spec;
  ca_spec.subject = pki::Name::Of(cn + "-ca", {});
  ca_spec.is_ca = true;
  ca_spec.not_before = std::time(nullptr) - 60;
  ca_spec.not_after = std::time(nullptr) + 3600;
  auto ca = pki::IssueSelfSigned(ca_spec, *ca_key);
  auto key = pki::PrivateKey::Generate({});
  pki::CertSpec spec;
  spec.subject = pki::Name::Of(cn, {"system:masters"});
  spec.ext_key_usages = {pki::kClientAuth};
  spec.not_before = ca_spec.not_before;
  spec.not_after = ca_spec.not_after;
  auto cert = pki::IssueSigned(spec, key->get(), *ca, *ca_key);
  ClientPki out{*ca, dir + "/" + cn + ".crt", dir + "/" + cn + ".key"};
  EXPECT_TRUE(pki::WriteCertificates(out.cert_path, {*cert}));
  EXPECT_TRUE(pki::WritePrivateKey(out.key_path, *key));
  return out;
}

TEST(HttpsServer, ClientCertificatesAreVerifiedWhenSent) {
  testing::TempDir dir;
  const ClientPki admin = MakeClientPki(dir.path(), "admin");
  const ClientPki stranger = MakeClientPki(dir.path(), "stranger");
  std::atomic<int> handled{0};
  TestServer ts(Limits{}, Echo(&handled), {admin.ca});
  httplib::SSLClient with_cert("127.0.0.1", ts.port(), admin.cert_path, admin.key_path);
  with_cert.enable_server_certificate_verification(false);
  auto r = with_cert.Get("/who");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->body, "GET /who  from 127.0.0.1 as admin");
  // No certificate: served, as nobody in particular (a bearer token may follow).
  httplib::SSLClient without("127.0.0.1", ts.port());
  without.enable_server_certificate_verification(false);
  auto anon = without.Get("/who");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->body, "GET /who  from 127.0.0.1");
  // A certificate from another CA: the handshake fails, nothing is served.
  httplib::SSLClient foreign("127.0.0.1", ts.port(), stranger.cert_path, stranger.key_path);
  foreign.enable_server_certificate_verification(false);
  EXPECT_FALSE(foreign.Get("/who"));
  EXPECT_EQ(handled, 2);
}

TEST(HttpsServer, KeepAliveIsBounded) {
  std::atomic<int> handled{0};
  Limits limits;
  limits.idle_timeout = 300ms;
  limits.max_requests_per_connection = 2;
  TestServer ts(limits, Echo(&handled));
  {
    // Pipelined: both answered in order, then closed (2 per connection).
    TlsClient c(ts.port());
    ASSERT_TRUE(c.connected());
    c.Write(
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c "
        "HTTP/1.1\r\n\r\n");
    std::string all;
    for (std::string part; !(part = c.Read()).empty();) all += part;
    const size_t a = all.find("GET /a"), b = all.find("GET /b");
    ASSERT_NE(a, std::string::npos) << all;
    ASSERT_NE(b, std::string::npos) << all;
    EXPECT_LT(a, b);
    EXPECT_NE(all.find("Connection: keep-alive"), std::string::npos);
    EXPECT_NE(all.find("Connection: close", a), std::string::npos);
    EXPECT_EQ(all.find("GET /c"), std::string::npos);
  }
  // Idle after a request: closed at the idle deadline.
  TlsClient c(ts.port());
  ASSERT_TRUE(c.connected());
  c.Write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.Read().find("GET /a"), std::string::npos);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.Read(), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(HttpsServer, IdleConnectionsEndAtTheHandshakeDeadline) {
  std::atomic<int> handled{0};
  Limits limits;
  limits.handshake_timeout = 300ms;
  TestServer ts(limits, Echo(&handled));
  const int fd = Connect(ts.port());
  const long ms = MsUntilClosed(fd, 5s);
  ::close(fd);
  EXPECT_GE(ms, 200);
  EXPECT_LT(ms, 3000);
  EXPECT_NE(ts.Log().find("TLS handshake not done in time"), std::string::npos) << ts.Log();
}

TEST(HttpsServer, ConnectionsPerPeerAreCapped) {
  std::atomic<int> handled{0};
  Limits limits;
  limits.max_per_peer = 2;
  TestServer ts(limits, Echo(&handled));
  const int a = Connect(ts.port()), b = Connect(ts.port()), c = Connect(ts.port());
  EXPECT_GE(MsUntilClosed(c, 3s), 0);      // the third: closed at once
  EXPECT_EQ(MsUntilClosed(a, 300ms), -1);  // the first two wait for their handshake
  EXPECT_EQ(MsUntilClosed(b, 300ms), -1);
  for (int fd : {a, b, c}) ::close(fd);
  EXPECT_NE(ts.Log().find("(limit per address)"), std::string::npos) << ts.Log();
}

TEST(HttpsServer, TheWholeHeadHasOneDeadline) {
  std::atomic<int> handled{0};
  Limits limits;
  limits.head_timeout = 600ms;
  TestServer ts(limits, Echo(&handled));
  TlsClient c(ts.port());
  ASSERT_TRUE(c.connected());
  const auto t0 = std::chrono::steady_clock::now();
  c.Write("GET /hello HTTP/1.1\r\n");
  // A header line every 100ms: each arrives well within any per-line
  // timeout, yet the head as a whole is cut at its deadline.
  std::string got;
  for (int i = 0; i < 40; i++) {
    std::this_thread::sleep_for(100ms);
    if (!c.Write("X-Slow: " + std::to_string(i) + "\r\n")) break;
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
      got = c.Read();
      break;
    }
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(got.starts_with("HTTP/1.1 408 ")) << got;
  EXPECT_LT(took, 2s);
  EXPECT_EQ(handled, 0);
}

TEST(HttpsServer, AStreamEndsWhenItsClientLeaves) {
  // SIGPIPE at its default (it kills the process): the server must not raise it.
  ::signal(SIGPIPE, SIG_DFL);
  std::atomic<int> handled{0};
  TestServer ts(Limits{}, Echo(&handled));
  stream_ended = false;
  {
    TlsClient c(ts.port());
    ASSERT_TRUE(c.connected());
    c.Write("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_FALSE(c.Read().empty());
  }  // gone, mid-stream
  for (int i = 0; i < 100 && !stream_ended; i++) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(stream_ended);
}

TEST(HttpsServer, AWaitingStreamEndsWhenItsClientLeavesOrTheServerStops) {
  std::atomic<int> handled{0};
  std::unique_ptr<TlsClient> stays;  // outlives the server
  {
    TestServer ts(Limits{}, Echo(&handled));
    stream_ended = false;
    {
      TlsClient c(ts.port());
      ASSERT_TRUE(c.connected());
      c.Write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
      std::string got;
      while (got.find("waiting") == std::string::npos) {
        const std::string part = c.Read();
        ASSERT_FALSE(part.empty());
        got += part;
      }
    }  // gone while the handler waits
    for (int i = 0; i < 100 && !stream_ended; i++) std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(stream_ended);
    // A client that stays: stopping the server ends its stream too.
    stream_ended = false;
    stays = std::make_unique<TlsClient>(ts.port());
    ASSERT_TRUE(stays->connected());
    stays->Write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_FALSE(stays->Read().empty());
  }  // ~TestServer: Stop(), and Run() returns once the stream has ended
  EXPECT_TRUE(stream_ended);
}

}  // namespace
}  // namespace cpr::https
