#include <gtest/gtest.h>

#include "pki/key.h"
#include "pki_testing.h"

namespace cpr::pki {
namespace {

using testing::Sh;
using testing::TempDir;

TEST(ParseKeySpec, AcceptsAndRefuses) {
  auto ec = ParseKeySpec("ecdsa", "--key-type");
  ASSERT_TRUE(ec.has_value());
  EXPECT_EQ(ec->type, KeyType::kEcdsaP256);
  auto rsa = ParseKeySpec("rsa:3072", "--key-type");
  ASSERT_TRUE(rsa.has_value());
  EXPECT_EQ(rsa->type, KeyType::kRsa);
  EXPECT_EQ(rsa->rsa_bits, 3072);
  EXPECT_EQ(ParseKeySpec("rsa", "k")->rsa_bits, 2048);
  for (const char* bad : {"rsa:1024", "rsa:2000", "dsa", "", "rsa:99999", "rsa:4096x"}) {
    auto r = ParseKeySpec(bad, "--key-type");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().where, "--key-type");
  }
}

TEST(PrivateKey, EcdsaRoundTripCheckedByOpenssl) {
  auto key = PrivateKey::Generate({});
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->Description(), "ECDSA P-256");
  const std::string pem = key->ToPem();
  EXPECT_NE(pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);  // PKCS#8
  TempDir d;
  testing::WriteAll(d / "k.pem", pem);
  auto r = Sh("openssl pkey -in " + (d / "k.pem") + " -noout -text");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("P-256"), std::string::npos) << r.out;
  auto check = Sh("openssl pkey -in " + (d / "k.pem") + " -noout -check");
  EXPECT_EQ(check.rc, 0) << check.out;
  auto back = PrivateKey::FromPem(pem, "k.pem");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->PublicKeyDer(), key->PublicKeyDer());
  EXPECT_FALSE(key->PublicKeyDer().empty());
}

TEST(PrivateKey, RsaAndDistinctKeys) {
  KeySpec spec;
  spec.type = KeyType::kRsa;
  auto a = PrivateKey::Generate(spec);
  auto b = PrivateKey::Generate(spec);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->Description(), "RSA 2048");
  EXPECT_NE(a->PublicKeyDer(), b->PublicKeyDer());
  auto like = PrivateKey::GenerateLike(a->get());
  ASSERT_TRUE(like.has_value());
  EXPECT_EQ(like->Description(), "RSA 2048");
  EXPECT_NE(like->PublicKeyDer(), a->PublicKeyDer());
}

TEST(PrivateKey, ReadsOpensslTraditionalForms) {
  TempDir d;
  ASSERT_EQ(Sh("openssl ecparam -name prime256v1 -genkey -noout -out " + (d / "ec.pem")).rc, 0);
  auto key = PrivateKey::FromPem(testing::ReadAll(d / "ec.pem"), "ec.pem");
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(key->Description(), "ECDSA P-256");
  auto like = PrivateKey::GenerateLike(key->get());
  ASSERT_TRUE(like.has_value());
  EXPECT_EQ(like->Description(), "ECDSA P-256");
}

TEST(PrivateKey, RefusesGarbageAndEncryptedKeys) {
  auto garbage = PrivateKey::FromPem(
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "x.key");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_EQ(garbage.error().where, "x.key");
  TempDir d;
  ASSERT_EQ(Sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 -pass "
               "pass:secret -out " +
               (d / "enc.pem"))
                .rc,
            0);
  auto enc = PrivateKey::FromPem(testing::ReadAll(d / "enc.pem"), "enc.pem");
  ASSERT_FALSE(enc.has_value());
  EXPECT_NE(enc.error().what.find("encrypted"), std::string::npos);
}

}  // namespace
}  // namespace cpr::pki
