#include "recovery/client.h"

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <optional>

#include "pki/csr.h"
#include "pki/kube_pki.h"
#include "recovery/codec.h"
#include "util/atomic_file.h"
#include "util/text.h"

namespace cpr::recovery {
namespace {

const std::string kBase = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

struct Url {
  std::string host;
  int port = 443;
};

Result<Url> ParseServer(const std::string& server) {
  if (!server.starts_with("https://"))
    return MakeError(Code::kInvalidArgument, "kubeconfig server", server + ": not https://");
  std::string rest = server.substr(8);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  Url u;
  size_t colon = rest.rfind(':');
  if (rest.starts_with("[")) {
    const size_t close = rest.find(']');
    if (close == std::string::npos) return MakeError(Code::kInvalidArgument, server, "bad host");
    u.host = rest.substr(1, close - 1);
    colon = rest.find(':', close);
  } else {
    u.host = rest.substr(0, colon);
  }
  if (colon != std::string::npos) {
    auto p = ParseInt64(rest.substr(colon + 1));
    if (!p || *p < 1 || *p > 65535) return MakeError(Code::kInvalidArgument, server, "bad port");
    u.port = static_cast<int>(*p);
  }
  return u;
}

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string QueryEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string MessageOf(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    return j["message"].get<std::string>();
  return body.substr(0, 200);
}

}  // namespace

struct ApiClient::Impl {
  std::string server;
  std::unique_ptr<httplib::SSLClient> cli;

  Result<httplib::Result> Check(httplib::Result r) {
    if (!r)
      return MakeError(Code::kUnavailable, server,
                       "request failed: " + httplib::to_string(r.error()),
                       r.error() == httplib::Error::SSLServerVerification
                           ? "the server's certificate does not verify against the kubeconfig CA"
                           : "is the recovery API running and reachable?");
    return r;
  }
  Error HttpError(const httplib::Response& r, const std::string& what) {
    const Code code = r.status == 404                      ? Code::kNotFound
                      : r.status == 403 || r.status == 409 ? Code::kFailedPrecondition
                      : r.status == 401                    ? Code::kFailedPrecondition
                                                           : Code::kUnavailable;
    return MakeError(code, what, fmt::format("HTTP {}: {}", r.status, MessageOf(r.body)));
  }
};

ApiClient::~ApiClient() = default;
ApiClient::ApiClient(ApiClient&&) noexcept = default;

Result<ApiClient> ApiClient::Connect(const Kubeconfig& k) {
  const Url url = CPR_TRY(ParseServer(k.server));
  auto cas = CPR_TRY(pki::Certificate::AllFromPem(k.ca_pem, "kubeconfig CA"));
  if (cas.empty())
    return MakeError(Code::kInvalidArgument, "kubeconfig", "no certificate-authority(-data)");
  ApiClient c;
  c.impl_ = std::make_unique<Impl>();
  c.impl_->server = k.server;
  if (!k.client_cert_pem.empty()) {
    auto cert = CPR_TRY(pki::Certificate::FromPem(k.client_cert_pem, "client-certificate"));
    auto key = CPR_TRY(pki::PrivateKey::FromPem(k.client_key_pem, "client-key"));
    c.impl_->cli = std::make_unique<httplib::SSLClient>(url.host, url.port, cert.get(), key.get());
  } else {
    c.impl_->cli = std::make_unique<httplib::SSLClient>(url.host, url.port);
  }
  httplib::SSLClient& cli = *c.impl_->cli;
  X509_STORE* store = X509_STORE_new();
  for (const auto& ca : cas) X509_STORE_add_cert(store, ca.get());
  cli.set_ca_cert_store(store);
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(10, 0);
  cli.set_read_timeout(30, 0);
  cli.set_write_timeout(30, 0);
  if (!k.token.empty()) cli.set_bearer_token_auth(k.token.c_str());
  return c;
}

Result<std::vector<Csr>> ApiClient::List(const std::string& selector, int64_t* rv) {
  std::string path = kBase;
  if (!selector.empty()) path += "?fieldSelector=" + QueryEscape(selector);
  auto r = CPR_TRY(impl_->Check(impl_->cli->Get(path.c_str())));
  if (r->status != 200) return impl_->HttpError(*r, "list");
  Json j = Json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("items") || !j["items"].is_array())
    return MakeError(Code::kCorrupt, impl_->server, "the list answer has no items");
  std::vector<Csr> out;
  for (const auto& item : j["items"]) out.push_back(CPR_TRY(CsrFromJson(item.dump())));
  if (rv) {
    auto v = ParseInt64(j["metadata"].value("resourceVersion", "0"));
    *rv = v ? *v : 0;
  }
  return out;
}

Result<Csr> ApiClient::Get(const std::string& name) {
  auto r = CPR_TRY(impl_->Check(impl_->cli->Get((kBase + "/" + name).c_str())));
  if (r->status != 200) return impl_->HttpError(*r, name);
  return CsrFromJson(r->body);
}

Result<Csr> ApiClient::Create(const Csr& csr) {
  Json body = CsrToJson(csr, "v1");
  body["metadata"] = Json{{"name", csr.name}};
  body["spec"].erase("username");
  body["spec"].erase("groups");
  body.erase("status");
  auto r = CPR_TRY(impl_->Check(impl_->cli->Post(kBase.c_str(), body.dump(), "application/json")));
  if (r->status != 201 && r->status != 200) return impl_->HttpError(*r, csr.name);
  return CsrFromJson(r->body);
}

Result<Csr> ApiClient::SetCondition(const std::string& name, const std::string& type,
                                    const std::string& reason, const std::string& message) {
  for (int attempt = 0; attempt < 10; attempt++) {
    Csr cur = CPR_TRY(Get(name));
    if (HasCondition(cur, type)) return cur;
    Json body = CsrToJson(cur, "v1");
    if (!body["status"].contains("conditions")) body["status"]["conditions"] = Json::array();
    body["status"]["conditions"].push_back(
        {{"type", type}, {"status", "True"}, {"reason", reason}, {"message", message}});
    auto r = CPR_TRY(impl_->Check(impl_->cli->Put((kBase + "/" + name + "/approval").c_str(),
                                                  body.dump(), "application/json")));
    if (r->status == 409) continue;
    if (r->status != 200) return impl_->HttpError(*r, name);
    return CsrFromJson(r->body);
  }
  return MakeError(Code::kUnavailable, name, "kept conflicting with other updates");
}

Result<void> ApiClient::Watch(const std::string& selector, int64_t rv, int timeout_seconds,
                              const std::function<bool(const std::string&, const Csr&)>& on_event) {
  std::string path =
      fmt::format("{}?watch=true&resourceVersion={}&timeoutSeconds={}", kBase, rv, timeout_seconds);
  if (!selector.empty()) path += "&fieldSelector=" + QueryEscape(selector);
  std::string pending;
  bool stopped = false;
  Result<void> failure;
  int status = 0;
  auto r = impl_->cli->Get(
      path.c_str(), httplib::Headers{},
      [&](const httplib::Response& resp) {
        status = resp.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status != 200) {
          pending.append(data, n);
          return true;
        }
        pending.append(data, n);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          const std::string line = pending.substr(0, nl);
          pending.erase(0, nl + 1);
          if (line.empty()) continue;
          Json ev = Json::parse(line, nullptr, false);
          if (!ev.is_object() || !ev.contains("object")) continue;
          const std::string type = ev.value("type", "");
          if (type == "ERROR") {
            failure = MakeError(Code::kNotFound, impl_->server, "watch expired");
            return false;
          }
          auto csr = CsrFromJson(ev["object"].dump());
          if (!csr) continue;
          if (!on_event(type, *csr)) {
            stopped = true;
            return false;
          }
        }
        return true;
      });
  if (!failure) return failure;
  if (stopped) return {};
  if (status == 410) return MakeError(Code::kNotFound, impl_->server, "watch expired");
  if (status != 0 && status != 200)
    return MakeError(Code::kUnavailable, impl_->server,
                     fmt::format("watch: HTTP {}: {}", status, MessageOf(pending)));
  if (!r && r.error() != httplib::Error::Read)
    return MakeError(Code::kUnavailable, impl_->server, "watch: " + httplib::to_string(r.error()));
  return {};
}

namespace {

// node-csr-<base64url(SHA-512/256(public key | CN | O | usages))>, stable for a key.
std::string KubeletCsrName(const std::string& public_key_der, const std::string& cn,
                           const std::vector<std::string>& usages) {
  std::string input = public_key_der + "|" + cn + "|system:nodes";
  for (const auto& u : usages) input += "|" + u;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), md, &len, EVP_sha512_256(), nullptr);
  std::string b64 = Base64Encode(Bytes(reinterpret_cast<const char*>(md), len));
  std::string out;
  for (char c : b64) {
    if (c == '=') continue;
    out += c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return "node-csr-" + out;
}

// What the waiting bootstrap makes of each state of its CSR.
struct IssueWaiter {
  std::string uid;
  std::string cert_pem;          // set once issued
  std::optional<Error> refusal;  // set once it can never be issued
  // false: stop waiting (issued or refused).
  bool Consider(const Csr& c) {
    if (c.uid != uid) {
      refusal = MakeError(Code::kFailedPrecondition, c.name, "was replaced (its uid changed)");
      return false;
    }
    if (HasCondition(c, "Denied") || HasCondition(c, "Failed")) {
      refusal = MakeError(Code::kFailedPrecondition, c.name, "was " + ConditionText(c));
      return false;
    }
    if (HasCondition(c, "Approved") && !c.certificate.empty()) {
      cert_pem = c.certificate;
      return false;
    }
    return true;
  }
};

}  // namespace

Result<BootstrapResult> Bootstrap(const BootstrapOptions& o,
                                  const std::function<void(const std::string&)>& progress) {
  if (!pki::ValidHostName(o.node))
    return MakeError(Code::kInvalidArgument, "--node", "'" + o.node + "' is not a node name");
  if (o.dir.empty()) return MakeError(Code::kInvalidArgument, "--dir", "required");
  Kubeconfig boot = CPR_TRY(LoadKubeconfig(o.kubeconfig));
  if (boot.token.empty() && boot.client_cert_pem.empty())
    return MakeError(Code::kInvalidArgument, o.kubeconfig,
                     "has no token and no client certificate");
  BootstrapResult out;
  out.key_path = o.dir + "/kubelet-client.key";
  out.cert_path = o.dir + "/kubelet-client.crt";
  out.kubeconfig_path = o.dir + "/kubelet.kubeconfig";
  for (const auto& p : {out.key_path, out.cert_path, out.kubeconfig_path}) {
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0)
      return MakeError(Code::kFailedPrecondition, p, "already exists",
                       "csr request never overwrites a key or certificate; move it aside");
  }
  ApiClient api = CPR_TRY(ApiClient::Connect(boot));
  pki::PrivateKey key = CPR_TRY(pki::PrivateKey::Generate({}));
  pki::CsrSpec spec;
  const std::string cn = "system:node:" + o.node;
  spec.subject = pki::Name::Of(cn, {"system:nodes"});
  pki::CertRequest req = CPR_TRY(pki::CertRequest::Create(key, spec));
  Csr csr;
  csr.usages = {"digital signature", "key encipherment", "client auth"};
  csr.name = KubeletCsrName(req.PublicKeyDer(), cn, csr.usages);
  csr.request = req.ToPem();
  csr.signer_name = pki::kKubeletClientSigner;
  auto created = api.Create(csr);
  if (!created) return std::move(created).error();
  out.csr_name = csr.name;
  progress(fmt::format("posted {} for {}; waiting for approval", csr.name, cn));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_seconds);
  const std::string selector = "metadata.name=" + csr.name;
  IssueWaiter waiter;
  waiter.uid = created->uid;
  while (waiter.cert_pem.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0)
      return MakeError(Code::kUnavailable, csr.name,
                       fmt::format("not issued within {}s", o.timeout_seconds),
                       "approve it (`cpr csr approve --policy nodes` or kubectl certificate "
                       "approve) and run csr request again");
    int64_t rv = 0;
    auto list = api.List(selector, &rv);
    if (!list) return std::move(list).error();
    for (const auto& c : *list) waiter.Consider(c);
    if (waiter.refusal) return *waiter.refusal;
    if (!waiter.cert_pem.empty()) break;
    if (list->empty()) return MakeError(Code::kNotFound, csr.name, "was deleted while waiting");
    auto w = api.Watch(selector, rv, static_cast<int>(std::min<int64_t>(left, 60)),
                       [&](const std::string& type, const Csr& c) {
                         return type != "DELETED" && waiter.Consider(c);
                       });
    if (waiter.refusal) return *waiter.refusal;
    if (!w && w.error().code != Code::kNotFound) return std::move(w).error();
  }
  const std::string& cert_pem = waiter.cert_pem;
  pki::Certificate cert = CPR_TRY(pki::Certificate::FromPem(cert_pem, "status.certificate"));
  const pki::CertInfo info = cert.Info();
  if (!cert.MatchesKey(key))
    return MakeError(Code::kFailedPrecondition, "issued certificate", "is not for our key");
  if (info.is_ca || info.subject.CommonName() != cn)
    return MakeError(Code::kFailedPrecondition, "issued certificate", "is a CA or not for " + cn);
  out.not_after = info.not_after;
  CPR_RETURN_IF_ERROR(MakeDirs(o.dir, 0700));
  CPR_RETURN_IF_ERROR(pki::WritePrivateKey(out.key_path, key));
  CPR_RETURN_IF_ERROR(pki::WriteCertificates(out.cert_path, {cert}));
  Kubeconfig node = boot;
  node.user = cn;
  node.token.clear();
  node.client_cert_pem = cert.ToPem();
  node.client_key_pem = key.ToPem();
  CPR_RETURN_IF_ERROR(WriteFileAtomic(out.kubeconfig_path, RenderKubeconfig(node), 0600));
  return out;
}

}  // namespace cpr::recovery
