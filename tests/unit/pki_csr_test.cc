#include <gtest/gtest.h>

#include "pki/csr.h"
#include "pki_testing.h"

namespace cpr::pki {
namespace {

using testing::Sh;
using testing::TempDir;

TEST(CertRequest, CreatedRequestVerifiesWithOpenssl) {
  auto key = PrivateKey::Generate({});
  ASSERT_TRUE(key.has_value());
  CsrSpec spec;
  spec.subject = Name::Of("system:etcd-peer:m4", {"system:etcd-peers"});
  spec.dns_names = {"m4", "localhost"};
  spec.ip_addresses = {"10.0.0.4", "127.0.0.1"};
  auto csr = CertRequest::Create(*key, spec);
  ASSERT_TRUE(csr.has_value()) << csr.error().ToString();
  TempDir d;
  testing::WriteAll(d / "r.csr", csr->ToPem());
  auto v = Sh("openssl req -verify -noout -text -in " + (d / "r.csr"));
  EXPECT_EQ(v.rc, 0) << v.out;
  EXPECT_NE(v.out.find("verify OK"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("DNS:m4"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("IP Address:10.0.0.4"), std::string::npos) << v.out;

  auto back = CertRequest::FromPem(csr->ToPem(), "r.csr");
  ASSERT_TRUE(back.has_value());
  CsrInfo i = back->Info();
  EXPECT_TRUE(i.signature_valid);
  EXPECT_EQ(i.subject.CommonName(), "system:etcd-peer:m4");
  EXPECT_EQ(i.subject.Organizations(), std::vector<std::string>{"system:etcd-peers"});
  EXPECT_EQ(i.dns_names, spec.dns_names);
  EXPECT_EQ(i.ip_addresses, spec.ip_addresses);
  EXPECT_FALSE(i.requests_ca);
  EXPECT_TRUE(i.ext_key_usages.empty());
  EXPECT_EQ(back->PublicKeyDer(), key->PublicKeyDer());
}

TEST(CertRequest, SeesWhatAnOpensslRequestAsksFor) {
  TempDir d;
  auto r = Sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
              (d / "k") + " -out " + (d / "r.csr") +
              " -subj '/O=system:etcd-peers/CN=system:etcd-peer:m4' -addext "
              "basicConstraints=critical,CA:TRUE -addext extendedKeyUsage=codeSigning,serverAuth "
              "-addext 'subjectAltName=DNS:*.evil,email:a@b'");
  ASSERT_EQ(r.rc, 0) << r.out;
  auto csr = CertRequest::FromPem(testing::ReadAll(d / "r.csr"), "r.csr");
  ASSERT_TRUE(csr.has_value());
  CsrInfo i = csr->Info();
  EXPECT_TRUE(i.signature_valid);
  EXPECT_TRUE(i.requests_ca);
  EXPECT_EQ(i.ext_key_usages, (std::vector<std::string>{"codeSigning", "serverAuth"}));
  EXPECT_EQ(i.dns_names, std::vector<std::string>{"*.evil"});
  EXPECT_EQ(i.other_sans, std::vector<std::string>{"email:a@b"});
}

TEST(CertRequest, TamperedRequestFailsItsSignature) {
  auto key = PrivateKey::Generate({});
  CsrSpec spec;
  spec.subject = Name::Of("system:etcd-peer:aaaa", {"system:etcd-peers"});
  auto csr = CertRequest::Create(*key, spec);
  ASSERT_TRUE(csr.has_value());
  // Re-encode with one subject byte changed: DER -> edit -> PEM via openssl.
  TempDir d;
  testing::WriteAll(d / "r.csr", csr->ToPem());
  ASSERT_EQ(Sh("openssl req -in " + (d / "r.csr") + " -outform DER -out " + (d / "r.der")).rc, 0);
  std::string der = testing::ReadAll(d / "r.der");
  size_t at = der.find("aaaa");
  ASSERT_NE(at, std::string::npos);
  der[at] = 'b';
  testing::WriteAll(d / "t.der", der);
  ASSERT_EQ(Sh("openssl req -inform DER -in " + (d / "t.der") + " -out " + (d / "t.csr")).rc, 0);
  auto tampered = CertRequest::FromPem(testing::ReadAll(d / "t.csr"), "t.csr");
  ASSERT_TRUE(tampered.has_value());
  EXPECT_FALSE(tampered->Info().signature_valid);
  EXPECT_EQ(tampered->Info().subject.CommonName(), "system:etcd-peer:baaa");
  // openssl 3.0 exits 0 either way; its message is the oracle.
  EXPECT_NE(Sh("openssl req -verify -noout -in " + (d / "t.csr")).out.find("verify failure"),
            std::string::npos);
  EXPECT_NE(Sh("openssl req -verify -noout -in " + (d / "r.csr")).out.find("verify OK"),
            std::string::npos);
}

TEST(CertRequest, RefusesNonRequests) {
  EXPECT_FALSE(CertRequest::FromPem("hello", "x").has_value());
  EXPECT_FALSE(CertRequest::FromPem("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END "
                                    "CERTIFICATE REQUEST-----\n",
                                    "x")
                   .has_value());
  auto key = PrivateKey::Generate({});
  CsrSpec spec;
  spec.subject = Name::Of("x");
  spec.ip_addresses = {"999.1.1.1"};
  EXPECT_FALSE(CertRequest::Create(*key, spec).has_value());
}

}  // namespace
}  // namespace cpr::pki
