#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "pki/etcd_pki.h"
#include "pki/verify.h"
#include "pki_testing.h"
#include "signer/core.h"
#include "signer/token_store.h"
#include "util/text.h"

namespace cpr::signer {
namespace {

using testing::Now;
using testing::ReadAll;
using testing::TempDir;
using Json = nlohmann::json;

struct Lab {
  TempDir dir;
  std::string state = dir / "state";
  SigningCas cas = Init(dir / "pki");
  std::unique_ptr<AuditLog> log;
  std::unique_ptr<SignerCore> core;

  static SigningCas Init(const std::string& pki_dir) {
    pki::InitOptions o;
    o.dir = pki_dir;
    o.hosts = *pki::ParseHosts("m1=10.0.0.1", "h");
    EXPECT_TRUE(pki::InitEtcdPki(o).has_value());
    return *LoadCasFromDir(o.dir);
  }

  Lab() {
    EXPECT_TRUE(CreateStateDir(state).has_value());
    log = std::make_unique<AuditLog>(state + "/audit.log", /*to_stderr=*/false);
    core = std::make_unique<SignerCore>(cas, state, PolicyConfig{}, log.get());
  }
  std::string Token(const std::string& host, const std::string& ip,
                    const std::string& profile = "peer", int64_t ttl = 3600) {
    TokenStore store(state);
    auto t = store.Issue(host, {ip}, profile, Now(), Now() + ttl);
    EXPECT_TRUE(t.has_value());
    return t->token;
  }
};

std::string Body(const std::string& name, const std::string& cn, const std::string& org,
                 std::vector<std::string> dns, std::vector<std::string> ips,
                 pki::PrivateKey* key_out = nullptr,
                 std::vector<std::string> usages = {"digital signature", "key encipherment",
                                                    "server auth", "client auth"}) {
  auto key = pki::PrivateKey::Generate({});
  pki::CsrSpec spec;
  spec.subject = pki::Name::Of(cn, {org});
  spec.dns_names = std::move(dns);
  spec.ip_addresses = std::move(ips);
  auto csr = pki::CertRequest::Create(*key, spec);
  if (key_out) *key_out = *key;
  Json j{{"apiVersion", "certificates.k8s.io/v1beta1"},
         {"kind", "CertificateSigningRequest"},
         {"metadata", {{"name", name}}},
         {"spec", {{"request", Base64Encode(csr->ToPem())}, {"usages", usages}}}};
  return j.dump();
}

std::string PeerBody(const std::string& name, const std::string& host, const std::string& ip,
                     pki::PrivateKey* key = nullptr) {
  return Body(name, "system:etcd-peer:" + host, "system:etcd-peers", {host}, {ip}, key);
}

TEST(SignerCore, IssuesOncePerTokenAndReadsBackByName) {
  Lab lab;
  const std::string tok = lab.Token("m4", "10.0.0.4");
  auto key = pki::PrivateKey::Generate({});
  auto r = lab.core->Create("Bearer " + tok, "application/json",
                            PeerBody("etcd-peer-m4", "m4", "10.0.0.4", &*key), "127.0.0.1:1");
  ASSERT_EQ(r.status, 201) << r.body;
  Json obj = Json::parse(r.body);
  auto pem = Base64Decode(obj["status"]["certificate"].get<std::string>());
  ASSERT_TRUE(pem.has_value());
  auto cert = pki::Certificate::FromPem(*pem, "issued");
  ASSERT_TRUE(cert.has_value());
  EXPECT_TRUE(cert->MatchesKey(*key));
  EXPECT_FALSE(cert->Info().is_ca);
  EXPECT_TRUE(pki::VerifyChain(*cert, {lab.cas.ca}, {}, {{Now()}, "serverAuth"}).has_value());
  EXPECT_TRUE(pki::VerifyChain(*cert, {lab.cas.ca}, {}, {{Now()}, "clientAuth"}).has_value());

  // Read back by name, only with the token that made it.
  auto got = lab.core->Get("etcd-peer-m4", "Bearer " + tok, "x");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, r.body);
  EXPECT_EQ(lab.core->Get("etcd-peer-m4", "Bearer " + lab.Token("m9", "10.0.0.9"), "x").status,
            404);
  EXPECT_EQ(lab.core->Get("etcd-peer-m4", "", "x").status, 401);

  // Replay: the token is spent.
  auto replay = lab.core->Create("Bearer " + tok, "application/json",
                                 PeerBody("etcd-peer-m4-2", "m4", "10.0.0.4"), "127.0.0.1:2");
  EXPECT_EQ(replay.status, 403);
  EXPECT_NE(replay.body.find("spent"), std::string::npos) << replay.body;

  // Neither the token nor a key ever reaches the audit log or the token file.
  const std::string audit = ReadAll(lab.state + "/audit.log");
  EXPECT_NE(audit.find("issued csr=etcd-peer-m4"), std::string::npos) << audit;
  EXPECT_NE(audit.find("replay"), std::string::npos) << audit;
  EXPECT_EQ(audit.find(tok), std::string::npos);
  EXPECT_EQ(audit.find(tok.substr(5, 20)), std::string::npos);
  EXPECT_EQ(audit.find("PRIVATE KEY"), std::string::npos);
  const std::string tokens = ReadAll(lab.state + "/tokens.json");
  EXPECT_EQ(tokens.find(tok.substr(5, 20)), std::string::npos);
  EXPECT_EQ(testing::ModeOf(lab.state + "/tokens.json"), 0600u);
  EXPECT_EQ(testing::ModeOf(lab.state + "/audit.log"), 0600u);
}

TEST(SignerCore, RefusesBadRequestsWithReasons) {
  Lab lab;
  const std::string tok = lab.Token("m4", "10.0.0.4");
  const std::string good = PeerBody("r1", "m4", "10.0.0.4");
  auto refused = [&](const std::string& auth, const std::string& type, const std::string& body) {
    return lab.core->Create(auth, type, body, "127.0.0.1:9").status;
  };
  EXPECT_EQ(refused("", "application/json", good), 401);
  EXPECT_EQ(refused("Basic abc", "application/json", good), 401);
  EXPECT_EQ(refused("Bearer wrong-token", "application/json", good), 401);
  std::string altered = tok;
  altered[6] = altered[6] == 'A' ? 'B' : 'A';
  EXPECT_EQ(refused("Bearer " + altered, "application/json", good), 401);
  EXPECT_EQ(refused("Bearer " + tok, "text/plain", good), 415);
  EXPECT_EQ(refused("Bearer " + tok, "application/json", "garbage{"), 400);
  EXPECT_EQ(refused("Bearer " + tok, "application/json", std::string(70000, '[')), 413);
  EXPECT_EQ(
      refused("Bearer " + tok, "application/json", std::string(100, '[') + std::string(100, ']')),
      400);
  EXPECT_EQ(refused("Bearer " + tok, "application/json", R"({"kind":"Pod"})"), 400);
  EXPECT_EQ(
      refused(
          "Bearer " + tok, "application/json",
          R"({"kind":"CertificateSigningRequest","metadata":{"name":"x"},"spec":{"request":"!!"}})"),
      400);
  EXPECT_EQ(
      refused(
          "Bearer " + tok, "application/json",
          R"({"kind":"CertificateSigningRequest","metadata":{"name":"x"},"spec":{"request":5}})"),
      400);
  EXPECT_EQ(
      refused("Bearer " + tok, "application/json", PeerBody("../../etc/passwd", "m4", "10.0.0.4")),
      400);
  // expirationSeconds out of range or not whole: refused before any conversion.
  for (const char* v :
       {"1e300", "-1e300", "3600.5", "18446744073709551615", "-1", "2147483648", "\"3600\""}) {
    Json body = Json::parse(good);
    body["spec"]["expirationSeconds"] = Json::parse(v);
    EXPECT_EQ(refused("Bearer " + tok, "application/json", body.dump()), 400) << v;
  }
  // Host A's token for host B's name or IP.
  EXPECT_EQ(refused("Bearer " + tok, "application/json", PeerBody("r2", "m5", "10.0.0.4")), 403);
  EXPECT_EQ(refused("Bearer " + tok, "application/json", PeerBody("r3", "m4", "10.0.0.5")), 403);
  // Expired token.
  const std::string old = lab.Token("m4", "10.0.0.4", "peer", -1);
  EXPECT_EQ(refused("Bearer " + old, "application/json", good), 403);
  // Metrics profile signs with the metrics CA.
  const std::string mt = lab.Token("m4", "10.0.0.4", "metrics");
  auto m = lab.core->Create("Bearer " + mt, "application/json",
                            Body("m1", "system:etcd-metric:m4", "system:etcd-metrics", {"m4"}, {},
                                 nullptr, {"digital signature", "server auth"}),
                            "x");
  ASSERT_EQ(m.status, 201) << m.body;
  auto cert = pki::Certificate::FromPem(
      *Base64Decode(Json::parse(m.body)["status"]["certificate"].get<std::string>()), "m");
  EXPECT_TRUE(cert->IssuedBy(*lab.cas.metric_ca));
  // None of the refusals spent the good token.
  EXPECT_EQ(lab.core->Create("Bearer " + tok, "application/json", good, "x").status, 201);
  // A name already used is a conflict (and does not spend the token).
  const std::string t2 = lab.Token("m4", "10.0.0.4");
  EXPECT_EQ(refused("Bearer " + t2, "application/json", PeerBody("r1", "m4", "10.0.0.4")), 409);
  EXPECT_EQ(refused("Bearer " + t2, "application/json", PeerBody("r9", "m4", "10.0.0.4")), 201);
  const std::string audit = ReadAll(lab.state + "/audit.log");
  EXPECT_NE(audit.find("reason=\"unknown token\""), std::string::npos) << audit;
  EXPECT_NE(audit.find("not in the allow-list"), std::string::npos) << audit;
  EXPECT_EQ(audit.find(tok), std::string::npos);
}

TEST(SignerCore, ConcurrentRequestsWithOneTokenIssueExactlyOnce) {
  Lab lab;
  const std::string tok = lab.Token("m4", "10.0.0.4");
  std::vector<std::string> bodies;
  for (int i = 0; i < 8; i++) bodies.push_back(PeerBody("c" + std::to_string(i), "m4", "10.0.0.4"));
  std::atomic<int> issued{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; i++)
    threads.emplace_back([&, i] {
      auto r = lab.core->Create("Bearer " + tok, "application/json", bodies[i], "t");
      (r.status == 201 ? issued : refused)++;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(issued.load(), 1);
  EXPECT_EQ(refused.load(), 7);
}

TEST(TokenStore, RevokeAndKeepOnlyHashes) {
  TempDir d;
  ASSERT_TRUE(CreateStateDir(d / "s").has_value());
  TokenStore store(d / "s");
  auto a = store.Issue("m1", {"10.0.0.1"}, "peer", Now(), Now() + 60);
  auto b = store.Issue("m2", {"10.0.0.2"}, "server", Now(), Now() + 60);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->token, b->token);
  EXPECT_TRUE(a->token.starts_with("cprt_"));
  EXPECT_GE(a->token.size(), 40u);
  auto n = store.RevokeUnspent(Now());
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 2);
  auto list = store.List();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].state, "revoked");
  EXPECT_EQ(FindToken(*list, a->token)->host, "m1");
  EXPECT_EQ(FindToken(*list, "cprt_nope"), nullptr);
  // A state dir others can read is refused.
  ::mkdir((d / "open").c_str(), 0755);
  ::chmod((d / "open").c_str(), 0755);
  EXPECT_FALSE(CreateStateDir(d / "open").has_value());
}

TEST(Helpers, BearerAndDepth) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("bearer   abc "), "abc");
  EXPECT_EQ(BearerToken("Basic abc"), "");
  EXPECT_EQ(BearerToken(""), "");
  EXPECT_EQ(JsonDepth(R"({"a":[1,{"b":"[[[["}]})"), 3);
  EXPECT_EQ(LogValue("a b\n\"c"), "\"a b??c\"");
}

}  // namespace
}  // namespace cpr::signer
