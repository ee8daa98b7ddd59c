#include <gtest/gtest.h>
#include <openssl/x509.h>

#include "pki/cert.h"
#include "pki/issue.h"
#include "pki/verify.h"
#include "pki_testing.h"

namespace cpr::pki {
namespace {

using testing::MakeCa;
using testing::MakeLeaf;
using testing::Now;
using testing::Sh;
using testing::TempDir;

TEST(Issue, CaAndLeafCheckedByOpenssl) {
  const int64_t now = Now();
  auto ca = MakeCa("etcd-signer", now - 60, now + 86400 * 10);
  auto leaf = MakeLeaf(ca, "system:etcd-peer:m1", now - 60, now + 86400);
  TempDir d;
  testing::WriteAll(d / "ca.crt", ca.cert.ToPem());
  testing::WriteAll(d / "leaf.crt", leaf.cert.ToPem());
  auto v = Sh("openssl verify -CAfile " + (d / "ca.crt") + " " + (d / "leaf.crt"));
  EXPECT_EQ(v.rc, 0) << v.out;
  EXPECT_NE(v.out.find(": OK"), std::string::npos) << v.out;

  auto ca_text = Sh("openssl x509 -noout -text -in " + (d / "ca.crt"));
  ASSERT_EQ(ca_text.rc, 0);
  EXPECT_NE(ca_text.out.find("CA:TRUE"), std::string::npos);
  EXPECT_NE(ca_text.out.find("Certificate Sign"), std::string::npos);
  auto text = Sh("openssl x509 -noout -text -in " + (d / "leaf.crt"));
  ASSERT_EQ(text.rc, 0);
  for (const char* want :
       {"CA:FALSE", "DNS:m1", "DNS:localhost", "IP Address:10.0.0.1", "IP Address:127.0.0.1",
        "TLS Web Server Authentication", "TLS Web Client Authentication", "Digital Signature",
        "Subject: O = system:etcd-peers, CN = system:etcd-peer:m1", "Issuer: CN = etcd-signer",
        "X509v3 Authority Key Identifier", "ecdsa-with-SHA256"})
    EXPECT_NE(text.out.find(want), std::string::npos) << want << "\n" << text.out;
  // ECDSA: no keyEncipherment.
  EXPECT_EQ(text.out.find("Key Encipherment"), std::string::npos);
}

TEST(Issue, InfoReadsBackWhatWasIssued) {
  const int64_t now = Now();
  auto ca = MakeCa("etcd-signer", now - 60, now + 86400 * 10);
  auto leaf = MakeLeaf(ca, "system:etcd-peer:m1", now - 60, now + 3600);
  CertInfo i = leaf.cert.Info();
  EXPECT_EQ(i.subject.CommonName(), "system:etcd-peer:m1");
  EXPECT_EQ(i.subject.Organizations(), std::vector<std::string>{"system:etcd-peers"});
  EXPECT_EQ(i.issuer.CommonName(), "etcd-signer");
  EXPECT_EQ(i.dns_names, (std::vector<std::string>{"m1", "localhost"}));
  EXPECT_EQ(i.ip_addresses, (std::vector<std::string>{"10.0.0.1", "127.0.0.1"}));
  EXPECT_EQ(i.not_before, now - 60);
  EXPECT_EQ(i.not_after, now + 3600);
  EXPECT_FALSE(i.is_ca);
  EXPECT_EQ(i.ext_key_usages, (std::vector<std::string>{"serverAuth", "clientAuth"}));
  EXPECT_EQ(i.key_usage, static_cast<uint32_t>(kDigitalSignature));
  EXPECT_EQ(i.authority_key_id, ca.cert.Info().subject_key_id);
  EXPECT_FALSE(i.subject_key_id.empty());
  EXPECT_TRUE(ca.cert.Info().is_ca);
  EXPECT_TRUE(ca.cert.Info().self_issued);
  EXPECT_TRUE(leaf.cert.MatchesKey(leaf.key));
  EXPECT_FALSE(leaf.cert.MatchesKey(ca.key));
  EXPECT_TRUE(leaf.cert.IssuedBy(ca.cert));
  EXPECT_FALSE(ca.cert.IssuedBy(leaf.cert));
}

TEST(Issue, SerialsAreRandomAndLong) {
  const int64_t now = Now();
  auto ca = MakeCa("ca", now - 60, now + 3600);
  std::set<std::string> serials;
  for (int i = 0; i < 20; i++) {
    auto leaf = MakeLeaf(ca, "x", now - 60, now + 60);
    std::string s = leaf.cert.Info().serial_hex;
    EXPECT_EQ(s.size(), 32u) << s;  // 16 bytes, top bits fixed so never shorter
    serials.insert(s);
  }
  EXPECT_EQ(serials.size(), 20u);
}

TEST(Issue, RefusesMismatchedCaKeyAndBadValidity) {
  const int64_t now = Now();
  auto ca = MakeCa("ca", now - 60, now + 3600);
  auto other = MakeCa("other", now - 60, now + 3600);
  CertSpec spec;
  spec.subject = Name::Of("x");
  spec.not_before = now;
  spec.not_after = now + 60;
  auto r = IssueSigned(spec, other.key.get(), ca.cert, other.key);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("does not match"), std::string::npos);
  spec.not_after = now - 1;
  EXPECT_FALSE(IssueSigned(spec, other.key.get(), ca.cert, ca.key).has_value());
  spec.not_after = now + 60;
  spec.ip_addresses = {"not-an-ip"};
  EXPECT_FALSE(IssueSigned(spec, other.key.get(), ca.cert, ca.key).has_value());
}

TEST(Certificate, ReadsOpensslMadeCertificates) {
  TempDir d;
  auto r = Sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + (d / "k.pem") + " -out " +
              (d / "c.pem") +
              " -days 3 -subj '/O=acme/CN=web' -addext "
              "'subjectAltName=DNS:web.example,IP:192.168.1.9'");
  ASSERT_EQ(r.rc, 0) << r.out;
  auto certs = ReadCertificates(d / "c.pem");
  ASSERT_TRUE(certs.has_value());
  CertInfo i = (*certs)[0].Info();
  EXPECT_EQ(i.subject.ToString(), "O=acme, CN=web");
  EXPECT_EQ(i.dns_names, std::vector<std::string>{"web.example"});
  EXPECT_EQ(i.ip_addresses, std::vector<std::string>{"192.168.1.9"});
  EXPECT_EQ(i.key_description, "RSA 2048");
  EXPECT_TRUE(i.self_issued);
  EXPECT_NEAR(static_cast<double>(i.not_after - i.not_before), 3 * 86400.0, 2);
  auto key = ReadPrivateKey(d / "k.pem");
  ASSERT_TRUE(key.has_value());
  EXPECT_TRUE((*certs)[0].MatchesKey(*key));
  // The fingerprint matches openssl's.
  auto fp = Sh("openssl x509 -noout -fingerprint -sha256 -in " + (d / "c.pem"));
  std::string hex;
  for (char c : fp.out.substr(fp.out.find('=') + 1))
    if (std::isxdigit(static_cast<unsigned char>(c)))
      hex.push_back(static_cast<char>(std::tolower(c)));
  EXPECT_EQ(i.sha256_fingerprint, hex);
}

TEST(Certificate, BundlesAndBrokenBlocks) {
  const int64_t now = Now();
  auto a = MakeCa("a", now - 60, now + 60), b = MakeCa("b", now - 60, now + 60);
  auto both = Certificate::AllFromPem(a.cert.ToPem() + "junk between\n" + b.cert.ToPem(), "f");
  ASSERT_TRUE(both.has_value());
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[1].Info().subject.CommonName(), "b");
  std::string broken = b.cert.ToPem();
  broken[100] = broken[100] == 'A' ? 'B' : 'A';  // corrupt the base64 body
  broken.insert(60, "!!!!");
  auto bad = Certificate::AllFromPem(a.cert.ToPem() + broken, "bundle.crt");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().where, "bundle.crt");
  EXPECT_NE(bad.error().what.find("certificate 2"), std::string::npos) << bad.error().what;
  auto none = ReadCertificates("/nonexistent/x.crt");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, Code::kNotFound);
}

TEST(Certificate, WritesKeys0600) {
  TempDir d;
  auto key = PrivateKey::Generate({});
  ASSERT_TRUE(WritePrivateKey(d / "k.key", *key).has_value());
  EXPECT_EQ(testing::ModeOf(d / "k.key"), 0600u);
  const int64_t now = Now();
  auto ca = MakeCa("ca", now - 60, now + 60);
  ASSERT_TRUE(WriteCertificates(d / "c.crt", {ca.cert}).has_value());
  EXPECT_EQ(testing::ModeOf(d / "c.crt"), 0644u);
}

TEST(Reissue, KeepsSubjectAndExtensionsAndStillVerifiesWithRenewedCa) {
  const int64_t now = Now();
  auto ca = MakeCa("etcd-signer", now - 7200, now - 3600);  // expired
  auto leaf = MakeLeaf(ca, "system:etcd-server:m2", now - 7200, now - 3600);
  // CA renewed with the same key: the old leaf still chains to it.
  auto renewed = Reissue(ca.cert, ca.key.get(), nullptr, ca.key, now - 60, now + 86400);
  ASSERT_TRUE(renewed.has_value()) << renewed.error().ToString();
  EXPECT_EQ(renewed->Info().subject.ToString(), ca.cert.Info().subject.ToString());
  EXPECT_EQ(renewed->Info().subject_key_id, ca.cert.Info().subject_key_id);
  EXPECT_NE(renewed->Info().serial_hex, ca.cert.Info().serial_hex);
  EXPECT_TRUE(renewed->Info().is_ca);
  EXPECT_TRUE(leaf.cert.IssuedBy(*renewed));
  // New leaf: same subject, SANs, usages; new serial and validity.
  auto nl = Reissue(leaf.cert, X509_get0_pubkey(leaf.cert.get()), &*renewed, ca.key, now - 60,
                    now + 3600);
  ASSERT_TRUE(nl.has_value());
  CertInfo o = leaf.cert.Info(), n = nl->Info();
  EXPECT_EQ(n.subject.ToString(), o.subject.ToString());
  EXPECT_EQ(n.dns_names, o.dns_names);
  EXPECT_EQ(n.ip_addresses, o.ip_addresses);
  EXPECT_EQ(n.ext_key_usages, o.ext_key_usages);
  EXPECT_EQ(n.key_usage, o.key_usage);
  EXPECT_NE(n.serial_hex, o.serial_hex);
  EXPECT_EQ(n.not_after, now + 3600);
  EXPECT_TRUE(nl->MatchesKey(leaf.key));
  TempDir d;
  testing::WriteAll(d / "ca.crt", renewed->ToPem());
  testing::WriteAll(d / "new.crt", nl->ToPem());
  testing::WriteAll(d / "old.crt", leaf.cert.ToPem());
  EXPECT_EQ(Sh("openssl verify -CAfile " + (d / "ca.crt") + " " + (d / "new.crt")).rc, 0);
  // The old leaf: expired, but otherwise it chains to the renewed CA.
  auto old = Sh("openssl verify -no_check_time -CAfile " + (d / "ca.crt") + " " + (d / "old.crt"));
  EXPECT_EQ(old.rc, 0) << old.out;
}

TEST(VerifyChain, ReasonsAndTime) {
  const int64_t now = Now();
  auto ca = MakeCa("ca", now - 600, now + 86400);
  auto imposter = MakeCa("ca", now - 600, now + 86400);  // same name, other key
  auto leaf = MakeLeaf(ca, "x", now - 600, now - 60);    // expired a minute ago
  EXPECT_TRUE(VerifyChain(leaf.cert, {ca.cert}).has_value());
  auto at_now = VerifyChain(leaf.cert, {ca.cert}, {}, {now, ""});
  ASSERT_FALSE(at_now.has_value());
  EXPECT_NE(at_now.error().what.find("expired"), std::string::npos) << at_now.error().what;
  EXPECT_TRUE(VerifyChain(leaf.cert, {ca.cert}, {}, {now - 120, "serverAuth"}).has_value());
  auto wrong = VerifyChain(leaf.cert, {imposter.cert});
  ASSERT_FALSE(wrong.has_value());
  // Same name, other key: its key id does not match, so it is no issuer at all.
  EXPECT_NE(wrong.error().what.find("unable to get local issuer"), std::string::npos)
      << wrong.error().what;
  EXPECT_FALSE(VerifyChain(leaf.cert, {}).has_value());
}

}  // namespace
}  // namespace cpr::pki
