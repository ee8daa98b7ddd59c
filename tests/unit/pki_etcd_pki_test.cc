#include <gtest/gtest.h>

#include "pki/cert.h"
#include "pki/etcd_pki.h"
#include "pki/lifetime.h"
#include "pki_testing.h"

namespace cpr::pki {
namespace {

using testing::ModeOf;
using testing::Sh;
using testing::TempDir;

TEST(Hosts, ParseAndValidate) {
  auto h = ParseHosts("m1=10.0.0.1,m2=10.0.0.2,m1=fd00::1", "--hosts");
  ASSERT_TRUE(h.has_value());
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].ips, (std::vector<std::string>{"10.0.0.1", "fd00::1"}));
  for (const char* bad :
       {"m1", "m1=", "m1=300.1.1.1", "=10.0.0.1", "*.x=10.0.0.1", "a b=1.2.3.4", ""}) {
    auto r = ParseHosts(bad, "--hosts");
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    }
  }
  EXPECT_TRUE(ValidHostName("etcd-0.cluster.example.com"));
  EXPECT_TRUE(ValidHostName("ip-10-0-143-125"));
  for (const char* bad : {"", "-a", "a-", "a..b", "a.", "*.a", "a_b", "a/b"})
    EXPECT_FALSE(ValidHostName(bad)) << bad;
}

TEST(Lifetimes, ParseAndFormat) {
  EXPECT_EQ(*ParseLifetime("30d", "w"), 30 * 86400);
  EXPECT_EQ(*ParseLifetime("1h30m", "w"), 5400);
  EXPECT_EQ(*ParseLifetime("8760h", "w"), 365 * 86400);
  EXPECT_EQ(*ParseLifetime("2y", "w"), 2 * 365 * 86400);
  for (const char* bad : {"", "30", "d", "5x", "999999999999y", "1h-1m"})
    EXPECT_FALSE(ParseLifetime(bad, "--warn").has_value()) << bad;
  EXPECT_EQ(FormatLifetime(86400), "1d");
  EXPECT_EQ(FormatLifetime(5400), "1h30m");
  EXPECT_EQ(FormatLifetime(90061), "1d1h1m1s");
  Validities v;
  ASSERT_TRUE(ParseValidities("30d", "--validity", v).has_value());
  EXPECT_EQ(v.peer, 30 * 86400);
  EXPECT_EQ(v.admin, 30 * 86400);
  EXPECT_EQ(v.ca, 10 * 365 * 86400);
  ASSERT_TRUE(ParseValidities("ca=2y,metric=10m", "--validity", v).has_value());
  EXPECT_EQ(v.ca, 2 * 365 * 86400);
  EXPECT_EQ(v.metric, 600);
  EXPECT_FALSE(ParseValidities("bogus=1d", "--validity", v).has_value());
}

TEST(InitEtcdPki, LayoutNamesUsagesAndModes) {
  TempDir t;
  InitOptions o;
  o.dir = t / "pki";
  o.hosts = *ParseHosts("m1=10.0.0.1,m2=10.0.0.2", "h");
  auto files = InitEtcdPki(o);
  ASSERT_TRUE(files.has_value()) << files.error().ToString();
  EXPECT_EQ(files->size(), 2u + 2u * 3u + 1u);
  const EtcdPkiPaths p{o.dir};
  EXPECT_EQ(ModeOf(o.dir), 0700u);
  EXPECT_EQ(ModeOf(p.HostDir("m1")), 0700u);
  EXPECT_EQ(ModeOf(p.CaKey()), 0600u);
  EXPECT_EQ(ModeOf(p.CaCert()), 0644u);
  EXPECT_EQ(ModeOf(p.LeafKey("m2", Profile::kMetrics)), 0600u);
  EXPECT_EQ(ModeOf(p.AdminKey()), 0600u);

  auto ca = ReadCertificates(p.CaCert());
  auto mca = ReadCertificates(p.MetricCaCert());
  ASSERT_TRUE(ca && mca);
  EXPECT_EQ((*ca)[0].Info().subject.CommonName(), "etcd-signer");
  EXPECT_EQ((*mca)[0].Info().subject.CommonName(), "etcd-metric-signer");
  EXPECT_TRUE((*ca)[0].Info().is_ca);
  ASSERT_EQ(mca->size(), 2u);
  EXPECT_EQ((*mca)[1].ToPem(), (*ca)[0].ToPem());
  for (const char* h : {"m1", "m2"}) {
    for (Profile prof : {Profile::kPeer, Profile::kServer, Profile::kMetrics}) {
      const ProfileInfo& info = GetProfile(prof);
      auto c = ReadCertificates(p.LeafCert(h, prof));
      auto k = ReadPrivateKey(p.LeafKey(h, prof));
      ASSERT_TRUE(c && k);
      CertInfo i = (*c)[0].Info();
      EXPECT_EQ(i.subject.CommonName(), std::string(info.cn_prefix) + h);
      EXPECT_EQ(i.subject.Organizations(), std::vector<std::string>{info.organization});
      EXPECT_EQ(i.ext_key_usages, info.ext_key_usages);
      EXPECT_FALSE(i.is_ca);
      EXPECT_TRUE((*c)[0].MatchesKey(*k));
      EXPECT_EQ(i.dns_names, (std::vector<std::string>{h, "localhost"}));
      EXPECT_EQ(i.ip_addresses.back(), "127.0.0.1");
      const std::string& issuer = info.metric_ca ? p.MetricCaCert() : p.CaCert();
      auto v = Sh("openssl verify -CAfile " + issuer + " " + p.LeafCert(h, prof));
      EXPECT_EQ(v.rc, 0) << v.out;
      // ca.crt never trusts the metrics CA (metric-ca.crt does hold a copy of the etcd CA).
      if (info.metric_ca) {
        EXPECT_NE(Sh("openssl verify -CAfile " + p.CaCert() + " " + p.LeafCert(h, prof)).rc, 0);
      }
    }
  }
  auto admin = ReadCertificates(p.AdminCert());
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ((*admin)[0].Info().ext_key_usages, std::vector<std::string>{"clientAuth"});
  auto purpose =
      Sh("openssl verify -purpose sslclient -CAfile " + p.CaCert() + " " + p.AdminCert());
  EXPECT_EQ(purpose.rc, 0) << purpose.out;
  EXPECT_NE(Sh("openssl verify -purpose sslserver -CAfile " + p.CaCert() + " " + p.AdminCert()).rc,
            0);
}

TEST(InitEtcdPki, NeverOverwritesAndReusesTheCa) {
  TempDir t;
  InitOptions o;
  o.dir = t / "pki";
  o.hosts = *ParseHosts("m1=10.0.0.1", "h");
  ASSERT_TRUE(InitEtcdPki(o).has_value());
  const EtcdPkiPaths p{o.dir};
  const std::string ca_before = testing::ReadAll(p.CaCert());
  const std::string peer_before = testing::ReadAll(p.LeafCert("m1", Profile::kPeer));
  auto again = InitEtcdPki(o);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(testing::ReadAll(p.LeafCert("m1", Profile::kPeer)), peer_before);
  // A new host: the CA is reused, the old host untouched.
  o.hosts = *ParseHosts("m2=10.0.0.2", "h");
  auto added = InitEtcdPki(o);
  ASSERT_TRUE(added.has_value()) << added.error().ToString();
  EXPECT_FALSE(added->front().created);
  EXPECT_EQ(testing::ReadAll(p.CaCert()), ca_before);
  EXPECT_EQ(testing::ReadAll(p.LeafCert("m1", Profile::kPeer)), peer_before);
  EXPECT_EQ(Sh("openssl verify -CAfile " + p.CaCert() + " " + p.LeafCert("m2", Profile::kPeer)).rc,
            0);
  // A lone CA key (its certificate gone) is refused rather than replaced.
  ::unlink(p.MetricCaCert().c_str());
  o.hosts = *ParseHosts("m3=10.0.0.3", "h");
  auto lone = InitEtcdPki(o);
  ASSERT_FALSE(lone.has_value());
  EXPECT_NE(lone.error().what.find("missing"), std::string::npos);
}

}  // namespace
}  // namespace cpr::pki
