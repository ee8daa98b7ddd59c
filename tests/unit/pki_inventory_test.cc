#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include "pki/inventory.h"
#include "pki_testing.h"
#include "util/text.h"

namespace cpr::pki {
namespace {

using testing::MakeCa;
using testing::MakeLeaf;
using testing::Now;
using testing::Sh;
using testing::TempDir;
using testing::WriteAll;
using testing::WritePair;

std::map<std::string, const CheckedCert*> ByFile(const CheckReport& r) {
  std::map<std::string, const CheckedCert*> out;
  for (const auto& c : r.certs) {
    std::string name = c.found.path.substr(c.found.path.find_last_of('/') + 1);
    if (!c.found.source.empty()) name += "|" + c.found.source;
    if (c.found.index) name += "#" + std::to_string(c.found.index);
    out[name] = &c;
  }
  return out;
}

TEST(CheckCertificates, ClassifiesEveryCase) {
  TempDir t;
  const int64_t now = Now();
  auto ca = MakeCa("etcd-signer", now - 3600, now + 400 * 86400);
  WritePair(ca, t / "ca.crt", t / "ca.key");
  WritePair(MakeLeaf(ca, "valid", now - 60, now + 200 * 86400), t / "valid.crt", t / "valid.key");
  WritePair(MakeLeaf(ca, "expiring", now - 60, now + 10 * 86400), t / "expiring.crt",
            t / "expiring.key");
  WritePair(MakeLeaf(ca, "expired", now - 7200, now - 3600), t / "expired.crt", t / "expired.key");
  WritePair(MakeLeaf(ca, "future", now + 86400, now + 90 * 86400), t / "future.crt",
            t / "future.key");
  // Key mismatch: a valid certificate next to someone else's key.
  auto mismatched = MakeLeaf(ca, "mismatch", now - 60, now + 200 * 86400);
  auto other = MakeLeaf(ca, "other", now - 60, now + 200 * 86400);
  WriteAll(t / "mismatch.crt", mismatched.cert.ToPem());
  WriteAll(t / "mismatch.key", other.key.ToPem());
  // A CA with the same name but another key signed this one: broken chain.
  auto imposter = MakeCa("etcd-signer", now - 3600, now + 400 * 86400);
  ::mkdir((t / "sub").c_str(), 0700);
  WriteAll(t / "sub/forged.crt",
           MakeLeaf(imposter, "forged", now - 60, now + 200 * 86400).cert.ToPem());
  // Unreadable: a certificate block that does not parse.
  WriteAll(t / "sub/broken.pem",
           "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
  // Made by openssl, not by pki/: a valid leaf of the same CA, and an expiring self-signed one.
  ASSERT_EQ(Sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
               (t / "ossl.key") + " -out " + (t / "ossl.csr") + " -subj /CN=ossl")
                .rc,
            0);
  auto signed_by_ca =
      Sh("openssl x509 -req -in " + (t / "ossl.csr") + " -CA " + (t / "ca.crt") + " -CAkey " +
         (t / "ca.key") + " -CAcreateserial -days 100 -out " + (t / "ossl.crt"));
  ASSERT_EQ(signed_by_ca.rc, 0) << signed_by_ca.out;
  ASSERT_EQ(Sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
               (t / "self.key") + " -out " + (t / "self.crt") + " -days 2 -subj /CN=selfie")
                .rc,
            0);
  // A kubeconfig with an expired client certificate and its key.
  auto kc_leaf = MakeLeaf(ca, "system:admin", now - 7200, now - 60);
  WriteAll(t / "kubeconfig",
           "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: " +
               Base64Encode(ca.cert.ToPem()) +
               "\n    server: https://localhost:6443\n  name: c\nusers:\n- name: admin\n  user:\n"
               "    client-certificate-data: " +
               Base64Encode(kc_leaf.cert.ToPem()) +
               "\n    client-key-data: " + Base64Encode(kc_leaf.key.ToPem()) + "\n");
  WriteAll(t / "README", "not a certificate");

  CheckOptions o;
  o.paths = {t.path()};
  auto r = CheckCertificates(o);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  auto by = ByFile(*r);
  auto status = [&](const std::string& name) {
    auto it = by.find(name);
    return it == by.end() ? std::string("missing")
                          : std::string(CertStatusName(it->second->status));
  };
  EXPECT_EQ(status("ca.crt"), "valid");
  EXPECT_EQ(status("valid.crt"), "valid");
  EXPECT_EQ(status("expiring.crt"), "expiring");
  EXPECT_EQ(status("expired.crt"), "expired");
  EXPECT_EQ(status("future.crt"), "not yet valid");
  EXPECT_EQ(status("mismatch.crt"), "key mismatch");
  EXPECT_EQ(status("forged.crt"), "broken chain");
  EXPECT_EQ(status("broken.pem"), "unreadable");
  EXPECT_EQ(status("ossl.crt"), "valid");
  EXPECT_EQ(status("self.crt"), "expiring");
  EXPECT_EQ(status("kubeconfig|kubeconfig certificate-authority-data #1"), "valid");
  EXPECT_EQ(status("kubeconfig|kubeconfig client-certificate-data #1"), "expired");
  EXPECT_EQ(by.size(), 12u);
  EXPECT_FALSE(r->ok());
  EXPECT_EQ(r->counts.at(CertStatus::kValid), 4);
  EXPECT_EQ(by["valid.crt"]->issuer_path, t / "ca.crt");
  EXPECT_EQ(by["valid.crt"]->found.key_path, t / "valid.key");
  EXPECT_EQ(by["kubeconfig|kubeconfig client-certificate-data #1"]->found.key.has_value(), true);
  EXPECT_NE(by["expired.crt"]->detail.find("expired"), std::string::npos);
  EXPECT_NE(by["forged.crt"]->detail.find("same name"), std::string::npos);
  EXPECT_LT(by["expired.crt"]->seconds_left, 0);

  // A smaller warning window turns "expiring" into "valid".
  o.warn_seconds = 86400;
  auto r2 = CheckCertificates(o);
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(CertStatusName(ByFile(*r2)["expiring.crt"]->status), std::string("valid"));
}

TEST(CheckCertificates, ForeignCaAgainstGivenAnchors) {
  TempDir t;
  const int64_t now = Now();
  auto ca = MakeCa("etcd-signer", now - 60, now + 400 * 86400);
  auto foreign = MakeCa("foreign-ca", now - 60, now + 400 * 86400);
  WriteAll(t / "ca.crt", ca.cert.ToPem());
  ::mkdir((t / "leaves").c_str(), 0700);
  WriteAll(t / "leaves/ours.crt", MakeLeaf(ca, "ours", now - 60, now + 200 * 86400).cert.ToPem());
  WriteAll(t / "leaves/theirs.crt",
           MakeLeaf(foreign, "theirs", now - 60, now + 200 * 86400).cert.ToPem());
  CheckOptions o;
  o.paths = {t / "leaves"};
  // Without anchors an unknown issuer is only noted.
  auto loose = CheckCertificates(o);
  ASSERT_TRUE(loose.has_value());
  EXPECT_TRUE(loose->ok());
  o.ca_files = {t / "ca.crt"};
  auto strict = CheckCertificates(o);
  ASSERT_TRUE(strict.has_value());
  auto by = ByFile(*strict);
  EXPECT_EQ(by["ours.crt"]->status, CertStatus::kValid);
  EXPECT_EQ(by["theirs.crt"]->status, CertStatus::kBrokenChain);
  EXPECT_FALSE(strict->ok());
}

TEST(CheckCertificates, MissingPathIsAnError) {
  CheckOptions o;
  o.paths = {"/nonexistent/cpr"};
  auto r = CheckCertificates(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
}

}  // namespace
}  // namespace cpr::pki
