#include <gtest/gtest.h>

#include "pki_testing.h"
#include "signer/policy.h"

namespace cpr::signer {
namespace {

using testing::Now;
using testing::Sh;
using testing::TempDir;

TokenRecord Token(const std::string& host = "m4", const std::string& profile = "peer") {
  TokenRecord t;
  t.id = "abcdef012345";
  t.hash = "00";
  t.host = host;
  t.ips = {"10.0.0.4"};
  t.profile = profile;
  t.created = Now() - 10;
  t.expires = Now() + 3600;
  return t;
}

pki::CertRequest Csr(const std::string& cn, const std::vector<std::string>& orgs,
                     std::vector<std::string> dns, std::vector<std::string> ips,
                     std::vector<std::string> eku = {}, bool ca = false) {
  auto key = pki::PrivateKey::Generate({});
  pki::CsrSpec spec;
  spec.subject = pki::Name::Of(cn, orgs);
  spec.dns_names = std::move(dns);
  spec.ip_addresses = std::move(ips);
  spec.ext_key_usages = std::move(eku);
  spec.request_ca = ca;
  auto r = pki::CertRequest::Create(*key, spec);
  EXPECT_TRUE(r.has_value());
  return *r;
}

pki::CertRequest Good() {
  return Csr("system:etcd-peer:m4", {"system:etcd-peers"}, {"m4", "localhost"},
             {"10.0.0.4", "127.0.0.1"});
}

std::string RefusalOf(const TokenRecord& t, const pki::CertRequest& csr,
                      RequestedExtras extras = {}, PolicyConfig cfg = {}) {
  auto r = Evaluate(t, csr, extras, cfg, Now());
  return r ? "" : r.error().what;
}

TEST(Policy, SignsTheProfileOnly) {
  PolicyConfig cfg;
  cfg.max_lifetime = 30 * 86400;
  auto plan = Evaluate(Token(), Good(), {{"digital signature", "server auth", "client auth"}, 3600},
                       cfg, Now());
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  EXPECT_EQ(plan->profile, pki::Profile::kPeer);
  EXPECT_EQ(plan->spec.subject.ToString(), "O=system:etcd-peers, CN=system:etcd-peer:m4");
  EXPECT_FALSE(plan->spec.is_ca);
  EXPECT_EQ(plan->spec.ext_key_usages, (std::vector<std::string>{"serverAuth", "clientAuth"}));
  EXPECT_EQ(plan->spec.not_after - Now(), 3600);
  auto metrics = Evaluate(
      Token("m4", "metrics"),
      Csr("system:etcd-metric:m4", {"system:etcd-metrics"}, {"m4"}, {"10.0.0.4"}), {}, cfg, Now());
  ASSERT_TRUE(metrics.has_value());
  EXPECT_EQ(metrics->spec.ext_key_usages, std::vector<std::string>{"serverAuth"});
  EXPECT_LE(metrics->spec.not_after - Now(), 30 * 86400);
}

// A member token: one certificate of each profile, chosen by the subject's
// O; a profile already obtained is refused.
TEST(Policy, MemberTokenOneOfEachProfile) {
  TokenRecord t = Token("m4", kMemberProfile);
  auto peer = Evaluate(t, Good(), {}, {}, Now());
  ASSERT_TRUE(peer.has_value()) << peer.error().ToString();
  EXPECT_EQ(peer->profile, pki::Profile::kPeer);
  auto server =
      Evaluate(t, Csr("system:etcd-server:m4", {"system:etcd-servers"}, {"m4"}, {"10.0.0.4"}), {},
               {}, Now());
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  EXPECT_EQ(server->profile, pki::Profile::kServer);
  t.used_profiles = {"peer"};
  EXPECT_NE(RefusalOf(t, Good()).find("already obtained its peer certificate"), std::string::npos);
  EXPECT_NE(RefusalOf(t, Csr("system:etcd-peer:m4", {"system:masters"}, {"m4"}, {"10.0.0.4"}))
                .find("names none of the member profiles"),
            std::string::npos);
  // The CN still has to be the token's host for the profile the O names.
  EXPECT_NE(
      RefusalOf(t, Csr("system:etcd-server:m5", {"system:etcd-servers"}, {"m4"}, {"10.0.0.4"}))
          .find("is not"),
      std::string::npos);
}

TEST(Policy, TokenStates) {
  const int64_t now = Now();
  TokenRecord t = Token();
  EXPECT_FALSE(TokenProblem(&t, now).has_value());
  EXPECT_EQ(*TokenProblem(nullptr, now), "unknown token");
  t.state = "spent";
  EXPECT_NE(TokenProblem(&t, now)->find("replay"), std::string::npos);
  t.state = "revoked";
  EXPECT_NE(TokenProblem(&t, now)->find("revoked"), std::string::npos);
  t.state = "unspent";
  t.expires = now;
  EXPECT_NE(TokenProblem(&t, now)->find("expired"), std::string::npos);
}

TEST(Policy, RefusesEachViolation) {
  const TokenRecord t = Token();
  // Another host's name, in the CN or the SANs, or its IP.
  EXPECT_NE(RefusalOf(t, Csr("system:etcd-peer:m5", {"system:etcd-peers"}, {"m5"}, {})).find("CN"),
            std::string::npos);
  EXPECT_NE(RefusalOf(t, Csr("system:etcd-peer:m4", {"system:etcd-peers"}, {"m4", "m5"}, {}))
                .find("SAN m5"),
            std::string::npos);
  EXPECT_NE(RefusalOf(t, Csr("system:etcd-peer:m4", {"system:etcd-peers"}, {"m4"}, {"10.0.0.5"}))
                .find("SAN IP 10.0.0.5"),
            std::string::npos);
  // The profile's organization only, and no extra subject attributes.
  EXPECT_NE(RefusalOf(t, Csr("system:etcd-peer:m4", {"system:masters"}, {"m4"}, {})).find("O '"),
            std::string::npos);
  EXPECT_NE(
      RefusalOf(t, Csr("system:etcd-server:m4", {"system:etcd-servers"}, {"m4"}, {})).find("CN"),
      std::string::npos);
  // Wildcards, CA:TRUE, codeSigning, a missing host name.
  EXPECT_NE(RefusalOf(t, Csr("system:etcd-peer:m4", {"system:etcd-peers"}, {"m4", "*.m4"}, {}))
                .find("wildcard"),
            std::string::npos);
  EXPECT_NE(RefusalOf(t, Csr("system:etcd-peer:m4", {"system:etcd-peers"}, {"m4"}, {}, {}, true))
                .find("CA:TRUE"),
            std::string::npos);
  EXPECT_NE(
      RefusalOf(t, Csr("system:etcd-peer:m4", {"system:etcd-peers"}, {"m4"}, {}, {"codeSigning"}))
          .find("codeSigning"),
      std::string::npos);
  EXPECT_NE(RefusalOf(t, Csr("system:etcd-peer:m4", {"system:etcd-peers"}, {"localhost"}, {}))
                .find("host name"),
            std::string::npos);
  // clientAuth is not part of the metrics profile.
  EXPECT_NE(RefusalOf(Token("m4", "metrics"), Csr("system:etcd-metric:m4", {"system:etcd-metrics"},
                                                  {"m4"}, {}, {"clientAuth"}))
                .find("clientAuth"),
            std::string::npos);
  // spec.usages and lifetime.
  EXPECT_NE(RefusalOf(t, Good(), {{"code signing"}, std::nullopt}).find("code signing"),
            std::string::npos);
  PolicyConfig cfg;
  cfg.max_lifetime = 86400;
  EXPECT_NE(RefusalOf(t, Good(), {{}, 2 * 86400}, cfg).find("longer than the bound"),
            std::string::npos);
  EXPECT_NE(RefusalOf(t, Good(), {{}, 10}, cfg).find("below 600"), std::string::npos);
  // --dns names are allowed; others are not.
  cfg.extra_dns = {"etcd-1.cluster.example"};
  auto extra =
      Csr("system:etcd-peer:m4", {"system:etcd-peers"}, {"m4", "etcd-1.cluster.example"}, {});
  EXPECT_EQ(RefusalOf(t, extra, {}, cfg), "");
  EXPECT_NE(RefusalOf(t, extra), "");
}

// A CSR made by the openssl command line: `newkey` as for `openssl req
// -newkey`, then -pkeyopt `opt`; the subject and subjectAltName given.
pki::CertRequest OpensslCsr(const TempDir& d, const std::string& name, const std::string& newkey,
                            const std::string& opt, const std::string& subj,
                            const std::string& san) {
  const testing::Run r =
      Sh("openssl req -new -newkey " + newkey + " -pkeyopt " + opt + " -nodes -keyout " +
         (d / (name + ".key")) + " -out " + (d / (name + ".csr")) + " -subj '" + subj +
         "' -addext 'subjectAltName=" + san + "'");
  EXPECT_EQ(r.rc, 0) << r.out;
  auto csr = pki::CertRequest::FromPem(testing::ReadAll(d / (name + ".csr")), name);
  EXPECT_TRUE(csr.has_value());
  return *csr;
}

TEST(Policy, RefusesOpensslRequestsWithOtherSansOrWeakKeys) {
  TempDir d;
  const std::string subj = "/O=system:etcd-peers/CN=system:etcd-peer:m4";
  const std::string p256 = "ec_paramgen_curve:P-256";
  EXPECT_NE(RefusalOf(Token(), OpensslCsr(d, "a", "ec", p256, subj, "DNS:m4,URI:spiffe://x"))
                .find("URI:"),
            std::string::npos);
  EXPECT_NE(RefusalOf(Token(), OpensslCsr(d, "b", "ec", "ec_paramgen_curve:P-521", subj, "DNS:m4"))
                .find("key type"),
            std::string::npos);
  EXPECT_NE(RefusalOf(Token(), OpensslCsr(d, "c", "ec", p256, "/C=US" + subj, "DNS:m4"))
                .find("subject attribute C=US"),
            std::string::npos);
  // RSA with public exponent 3: refused whatever its size.
  EXPECT_EQ(
      RefusalOf(Token(), OpensslCsr(d, "e", "rsa:2048", "rsa_keygen_pubexp:3", subj, "DNS:m4")),
      "RSA public exponent 3 not accepted (65537 only)");
  EXPECT_EQ(
      RefusalOf(Token(), OpensslCsr(d, "f", "rsa:2048", "rsa_keygen_pubexp:65537", subj, "DNS:m4")),
      "");
}

TEST(Policy, RefusesDuplicateAndExcessiveSans) {
  const std::string cn = "system:etcd-peer:m4", o = "system:etcd-peers";
  EXPECT_EQ(RefusalOf(Token(), Csr(cn, {o}, std::vector<std::string>(2000, "m4"), {})),
            "2000 SANs requested; at most 64");
  std::vector<std::string> ips(64, "10.0.0.4");
  EXPECT_EQ(RefusalOf(Token(), Csr(cn, {o}, {"m4"}, ips)), "65 SANs requested; at most 64");
  EXPECT_EQ(RefusalOf(Token(), Csr(cn, {o}, {"m4", "M4"}, {})), "duplicate SAN DNS:M4");
  EXPECT_EQ(RefusalOf(Token(), Csr(cn, {o}, {"m4"}, {"10.0.0.4", "10.0.0.4"})),
            "duplicate SAN IP:10.0.0.4");
  EXPECT_EQ(RefusalOf(Token(), Csr(cn, {o}, {"m4"}, {"::ffff:a00:4", "::ffff:10.0.0.4"})),
            "duplicate SAN IP:::ffff:10.0.0.4");
}

}  // namespace
}  // namespace cpr::signer
