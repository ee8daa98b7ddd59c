#include "signer/client.h"

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "k8s/kubeconfig.h"
#include "pki/csr.h"
#include "pki/ossl.h"
#include "pki/verify.h"
#include "util/atomic_file.h"
#include "util/hash.h"
#include "util/text.h"

namespace cpr::signer {
namespace {

using Json = nlohmann::json;

struct Url {
  std::string host;
  int port = 443;
};

Result<Url> ParseUrl(const std::string& url) {
  auto bad = [&](const std::string& why) -> Result<Url> {
    return MakeError(Code::kInvalidArgument, "--signer", fmt::format("'{}': {}", url, why),
                     "e.g. https://10.0.0.5:9943");
  };
  if (!url.starts_with("https://")) return bad("must start with https://");
  std::string rest = url.substr(8);
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    if (rest.substr(slash) != "/") return bad("no path allowed");
    rest.resize(slash);
  }
  Url u;
  std::string port;
  if (rest.starts_with("[")) {
    size_t close = rest.find(']');
    if (close == std::string::npos) return bad("unclosed [");
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return bad("bad port");
      port = rest.substr(close + 2);
    }
  } else {
    size_t colon = rest.rfind(':');
    u.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (u.host.empty()) return bad("no host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return bad("bad port");
    u.port = std::stoi(port);
    if (u.port < 1 || u.port > 65535) return bad("bad port");
  }
  return u;
}

std::string RandomSuffix() {
  unsigned char b[4];
  RAND_bytes(b, sizeof b);
  return HexOf(Bytes(reinterpret_cast<char*>(b), sizeof b));
}

// The message of a Kubernetes Status body, or the body itself (bounded).
std::string ServerMessage(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    return j["message"].get<std::string>();
  return body.substr(0, 200);
}

Result<void> CheckAbsent(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0)
    return MakeError(Code::kFailedPrecondition, path, "already exists",
                     "certs request never overwrites a certificate or key; move it aside");
  return {};
}

}  // namespace

Result<RequestResult> RequestCertificate(const RequestOptions& o) {
  const Url url = CPR_TRY(ParseUrl(o.signer_url));
  if (o.token.empty()) return MakeError(Code::kInvalidArgument, "--token", "no token given");
  if (!pki::ValidHostName(o.name))
    return MakeError(Code::kInvalidArgument, "--name", fmt::format("bad host name '{}'", o.name));
  for (const auto& ip : o.ips)
    if (!pki::ValidIpAddress(ip))
      return MakeError(Code::kInvalidArgument, "--ip", fmt::format("bad IP address '{}'", ip));
  if (o.out_dir.empty()) return MakeError(Code::kInvalidArgument, "--dir", "no output directory");
  std::vector<pki::Certificate> pinned =
      CPR_TRY(pki::Certificate::AllFromPem(o.ca_pem, "--cacert"));
  if (pinned.empty())
    return MakeError(Code::kInvalidArgument, "--cacert", "no CA certificate to pin");

  const pki::ProfileInfo& profile = pki::GetProfile(o.profile);
  RequestResult out;
  out.cert_path = o.out_dir + "/" + profile.file_stem + ".crt";
  out.key_path = o.out_dir + "/" + profile.file_stem + ".key";
  out.ca_path = o.out_dir + (profile.metric_ca ? "/metric-ca.crt" : "/ca.crt");
  // Refuse before the token is spent.
  CPR_RETURN_IF_ERROR(CheckAbsent(out.cert_path));
  CPR_RETURN_IF_ERROR(CheckAbsent(out.key_path));

  // Key and CSR, locally.
  pki::PrivateKey key = CPR_TRY(pki::PrivateKey::Generate(o.key));
  pki::CsrSpec spec;
  const std::string cn = pki::ProfileCommonName(o.profile, o.name);
  spec.subject = pki::Name::Of(cn, {profile.organization});
  pki::Host host{o.name, o.ips};
  spec.dns_names = pki::HostDnsNames(host);
  for (const auto& d : o.dns)
    if (std::find(spec.dns_names.begin(), spec.dns_names.end(), d) == spec.dns_names.end())
      spec.dns_names.push_back(d);
  spec.ip_addresses = pki::HostIpAddresses(host);
  pki::CertRequest csr = CPR_TRY(pki::CertRequest::Create(key, spec));

  std::string csr_name = fmt::format("etcd-{}-{}-{}", profile.name, o.name, RandomSuffix());
  for (char& c : csr_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Json usages = Json::array({"digital signature", "key encipherment"});
  for (const auto& u : profile.ext_key_usages)
    usages.push_back(u == std::string(pki::kServerAuth) ? "server auth" : "client auth");
  Json body{{"apiVersion", "certificates.k8s.io/v1beta1"},
            {"kind", "CertificateSigningRequest"},
            {"metadata", {{"name", csr_name}}},
            {"spec", {{"request", Base64Encode(csr.ToPem())}, {"usages", usages}}}};
  if (o.lifetime) body["spec"]["expirationSeconds"] = *o.lifetime;

  // HTTPS, verified against the pinned CA(s) only.
  httplib::SSLClient cli(url.host, url.port);
  X509_STORE* store = X509_STORE_new();
  for (const auto& c : pinned) X509_STORE_add_cert(store, c.get());
  cli.set_ca_cert_store(store);  // the client's SSL_CTX owns it now
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(10, 0);
  cli.set_read_timeout(o.timeout_seconds, 0);
  cli.set_write_timeout(o.timeout_seconds, 0);
  cli.set_bearer_token_auth(o.token);
  cli.set_keep_alive(true);
  const std::string base = "/apis/certificates.k8s.io/v1beta1/certificatesigningrequests";
  auto post = cli.Post(base, body.dump(), "application/json");
  if (!post)
    return MakeError(Code::kUnavailable, o.signer_url,
                     "request failed: " + httplib::to_string(post.error()),
                     post.error() == httplib::Error::SSLServerVerification
                         ? "the signer's certificate does not verify against --cacert"
                         : "is the signer running and reachable?");
  if (post->status != 201 && post->status != 200)
    return MakeError(
        post->status == 401 || post->status == 403 ? Code::kFailedPrecondition : Code::kUnavailable,
        o.signer_url,
        fmt::format("the signer refused (HTTP {}): {}", post->status, ServerMessage(post->body)));
  auto got = cli.Get(base + "/" + csr_name);
  if (!got || got->status != 200)
    return MakeError(Code::kUnavailable, o.signer_url,
                     got ? fmt::format("reading the request back failed (HTTP {}): {}", got->status,
                                       ServerMessage(got->body))
                         : "reading the request back failed: " + httplib::to_string(got.error()));
  Json obj = Json::parse(got->body, nullptr, false);
  std::string cert_b64;
  if (obj.is_object() && obj.contains("status") && obj["status"].is_object() &&
      obj["status"].contains("certificate") && obj["status"]["certificate"].is_string())
    cert_b64 = obj["status"]["certificate"].get<std::string>();
  if (cert_b64.empty())
    return MakeError(Code::kCorrupt, o.signer_url, "the answer has no status.certificate");
  auto cert_pem = Base64Decode(cert_b64);
  if (!cert_pem) return MakeError(Code::kCorrupt, o.signer_url, "status.certificate is not base64");
  pki::Certificate cert = CPR_TRY(pki::Certificate::FromPem(*cert_pem, "status.certificate"));

  // Trust nothing the signer says without checking it.
  auto chain = pki::VerifyChain(cert, pinned, {}, {static_cast<int64_t>(std::time(nullptr)), ""});
  if (!chain)
    return MakeError(Code::kFailedPrecondition, "issued certificate",
                     "does not verify against --cacert: " + chain.error().what);
  if (!cert.MatchesKey(key))
    return MakeError(Code::kFailedPrecondition, "issued certificate", "is not for the key we sent");
  out.info = cert.Info();
  if (out.info.is_ca) return MakeError(Code::kFailedPrecondition, "issued certificate", "is a CA");
  if (out.info.subject.CommonName() != cn)
    return MakeError(Code::kFailedPrecondition, "issued certificate",
                     "CN is " + out.info.subject.CommonName() + ", not " + cn);
  const pki::Certificate* issuer = nullptr;
  for (const auto& c : pinned)
    if (cert.IssuedBy(c)) issuer = &c;
  if (!issuer)
    return MakeError(Code::kFailedPrecondition, "issued certificate", "no pinned CA issued it");

  CPR_RETURN_IF_ERROR(MakeDirs(o.out_dir, 0700));
  CPR_RETURN_IF_ERROR(pki::WritePrivateKey(out.key_path, key));
  CPR_RETURN_IF_ERROR(pki::WriteCertificates(out.cert_path, {cert}));
  CPR_RETURN_IF_ERROR(pki::WriteCertificates(out.ca_path, {*issuer}));
  return out;
}

std::string RenderRecoveryConfig(const RecoveryConfig& c) {
  k8s::Kubeconfig k;
  k.name = "cpr-signer";
  k.server = c.server;
  k.ca_pem = c.ca_pem;
  k.user = c.user;
  k.token = c.token;
  return k8s::RenderKubeconfig(k);
}

Result<RecoveryConfig> LoadRecoveryConfig(const std::string& path) {
  auto k = k8s::LoadKubeconfig(path);
  if (!k || k->token.empty() || k->ca_pem.empty())
    return MakeError(Code::kInvalidArgument, path,
                     "not a recovery kubeconfig (server, CA data, token)" +
                         (k ? std::string() : ": " + k.error().what));
  return RecoveryConfig{k->server, k->ca_pem, k->token, k->user};
}

}  // namespace cpr::signer
