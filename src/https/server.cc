#include "https/server.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "pki/issue.h"

namespace cpr::https {

std::string Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::string Request::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

struct Server::Impl {
  std::unique_ptr<httplib::SSLServer> svr;
  Handler handler;
};

namespace {

PeerCert PeerOf(const SSL* ssl) {
  PeerCert p;
  if (!ssl) return p;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return p;
  p.present = true;
  const X509_NAME* name = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(name); i++) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    const ASN1_STRING* s = X509_NAME_ENTRY_get_data(e);
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0) continue;
    std::string v(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    if (nid == NID_commonName) p.common_name = v;
    if (nid == NID_organizationName) p.organizations.push_back(v);
  }
  return p;
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Bind(const ServerOptions& o, Handler handler) {
  std::unique_ptr<Server> s(new Server());
  s->impl_ = std::make_unique<Impl>();
  s->impl_->handler = std::move(handler);
  const pki::Certificate cert = o.cert;
  const pki::PrivateKey key = o.key;
  const std::vector<pki::Certificate> cas = o.client_cas;
  s->impl_->svr = std::make_unique<httplib::SSLServer>([cert, key, cas](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate(&ctx, cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(&ctx, key.get()) != 1 || SSL_CTX_check_private_key(&ctx) != 1)
      return false;
    if (!cas.empty()) {
      X509_STORE* store = SSL_CTX_get_cert_store(&ctx);
      STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
      for (const auto& c : cas) {
        X509_STORE_add_cert(store, c.get());
        sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(c.get())));
      }
      SSL_CTX_set_client_CA_list(&ctx, names);
      SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
    }
    return true;
  });
  httplib::SSLServer& svr = *s->impl_->svr;
  if (!svr.is_valid()) return MakeError(Code::kInternal, o.listen.Url(), "TLS setup failed");
  svr.set_payload_max_length(o.max_body);
  svr.set_read_timeout(o.io_timeout_seconds, 0);
  svr.set_write_timeout(o.io_timeout_seconds, 0);
  svr.set_keep_alive_timeout(2);
  svr.set_keep_alive_max_count(100);
  // Watches hold a worker each while they last: more workers than the default 8.
  svr.new_task_queue = [] { return new httplib::ThreadPool(32); };
  Impl* impl = s->impl_.get();
  auto route = [impl](const httplib::Request& hreq, httplib::Response& hres) {
    Request r;
    r.method = hreq.method;
    r.path = hreq.path;
    for (const auto& [k, v] : hreq.params) r.query.emplace(k, v);
    for (const auto& [k, v] : hreq.headers) {
      std::string lk = k;
      std::transform(lk.begin(), lk.end(), lk.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      r.headers[lk] = v;
    }
    r.body = hreq.body;
    r.peer = PeerOf(hreq.ssl);
    r.remote = hreq.remote_addr + ":" + std::to_string(hreq.remote_port);
    Response out = impl->handler(r);
    hres.status = out.status;
    if (out.stream) {
      auto stream = std::move(out.stream);
      hres.set_chunked_content_provider(
          out.content_type, [stream](size_t, httplib::DataSink& sink) {
            stream([&sink](std::string_view chunk) {
              return sink.is_writable() && sink.write(chunk.data(), chunk.size());
            });
            sink.done();
            return true;
          });
    } else {
      hres.set_content(out.body, out.content_type.c_str());
    }
  };
  const std::string any = ".*";
  svr.Get(any, route);
  svr.Post(any, route);
  svr.Put(any, route);
  svr.Delete(any, route);
  svr.Patch(any, route);
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                               const std::exception_ptr&) {
    res.status = 500;
    res.set_content(
        R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"internal error","reason":"InternalError","code":500})",
        "application/json");
  });
  if (!svr.bind_to_port(o.listen.host, o.listen.port))
    return MakeError(Code::kUnavailable,
                     "--listen " + o.listen.host + ":" + std::to_string(o.listen.port),
                     std::string("cannot listen: ") + std::strerror(errno),
                     "is the address on this host, and the port free?");
  return s;
}

Server::~Server() = default;

void Server::Run() { impl_->svr->listen_after_bind(); }

void Server::Stop() { impl_->svr->stop(); }

bool Server::running() const { return impl_->svr->is_running(); }

Result<pki::Certificate> IssueServingCert(const ListenAddress& listen,
                                          const std::vector<std::string>& extra_dns,
                                          const pki::Name& subject, const pki::PrivateKey& key,
                                          const pki::Certificate& ca, const pki::PrivateKey& ca_key,
                                          int64_t now, int64_t not_after) {
  pki::CertSpec spec;
  spec.subject = subject;
  if (listen.is_ip)
    spec.ip_addresses.push_back(listen.host);
  else
    spec.dns_names.push_back(listen.host);
  for (const auto& d : extra_dns)
    if (d != listen.host) spec.dns_names.push_back(d);
  spec.ext_key_usages = {pki::kServerAuth};
  spec.not_before = now - pki::kBackdateSeconds;
  spec.not_after = std::min(not_after, ca.Info().not_after);
  return pki::IssueSigned(spec, key.get(), ca, ca_key);
}

namespace {

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  return signals;
}

}  // namespace

void BlockStopSignals() {
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int WaitForStopSignal(const std::function<bool()>& should_stop) {
  const sigset_t signals = StopSignals();
  while (!should_stop()) {
    timespec slice{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &slice);
    if (sig > 0) return sig;
  }
  return 0;
}

}  // namespace cpr::https
