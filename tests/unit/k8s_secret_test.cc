#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <string>

#include "k8s/secret.h"

namespace cpr::k8s {
namespace {

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Ld(int field, const std::string& payload) {
  return Varint(static_cast<uint64_t>(field) << 3 | 2) + Varint(payload.size()) + payload;
}

// What kube-apiserver stores for a v1 Secret (k8s-values.md §2, §3).
std::string SecretValue(const std::string& name, const std::string& ns,
                        const std::vector<std::pair<std::string, std::string>>& data) {
  std::string meta = Ld(1, name) + Ld(2, "") + Ld(3, ns) + Ld(4, "") + Ld(5, "uid") + Ld(6, "");
  std::string raw = Ld(1, meta);
  for (const auto& [k, v] : data) raw += Ld(2, Ld(1, k) + Ld(2, v));
  raw += Ld(3, "kubernetes.io/tls");
  std::string unknown = Ld(1, Ld(1, "v1") + Ld(2, "Secret")) + Ld(2, raw) + Ld(3, "") + Ld(4, "");
  return std::string("k8s\0", 4) + unknown;
}

std::string AesCbc(const std::string& key, const std::string& plain) {
  unsigned char iv[16];
  RAND_bytes(iv, sizeof iv);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()), iv);
  std::string out(plain.size() + 32, '\0');
  int n = 0, m = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  EVP_EncryptUpdate(ctx, o, &n, reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx, o + n, &m);
  EVP_CIPHER_CTX_free(ctx);
  out.resize(static_cast<size_t>(n + m));
  return std::string(reinterpret_cast<char*>(iv), 16) + out;
}

std::string AesGcm(const std::string& key, const std::string& plain, const std::string& aad) {
  unsigned char nonce[12];
  RAND_bytes(nonce, sizeof nonce);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()), nonce);
  int n = 0;
  EVP_EncryptUpdate(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                    static_cast<int>(aad.size()));
  std::string out(plain.size(), '\0');
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                    reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  int m = 0;
  EVP_EncryptFinal_ex(ctx, nullptr, &m);
  unsigned char tag[16];
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
  EVP_CIPHER_CTX_free(ctx);
  return std::string(reinterpret_cast<char*>(nonce), 12) + out +
         std::string(reinterpret_cast<char*>(tag), 16);
}

TEST(DecodeSecret, ReadsNameNamespaceTypeAndData) {
  const std::string v =
      SecretValue("etcd-signer", "openshift-config",
                  {{"tls.crt", std::string("CERT\x00\xff", 6)}, {"tls.key", "KEY"}});
  auto s = DecodeSecret(v);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->name, "etcd-signer");
  EXPECT_EQ(s->namespace_, "openshift-config");
  EXPECT_EQ(s->type, "kubernetes.io/tls");
  EXPECT_EQ(s->data.at("tls.crt"), std::string("CERT\x00\xff", 6));
  EXPECT_EQ(s->data.at("tls.key"), "KEY");
  // Truncated anywhere: never a partial Secret.
  for (size_t cut = 0; cut < v.size(); cut++) EXPECT_FALSE(DecodeSecret(v.substr(0, cut))) << cut;
  EXPECT_FALSE(DecodeSecret("{\"kind\":\"Secret\"}"));
}

TEST(DecryptValue, AescbcAndAesgcmWithTheRightKeyOnly) {
  const std::string plain = SecretValue("etcd-signer", "openshift-config", {{"tls.key", "K"}});
  const std::string key(32, 'k'), other(32, 'o');
  const std::string etcd_key = "/kubernetes.io/secrets/openshift-config/etcd-signer";
  std::vector<EncryptionKey> keys{
      {"aescbc", "key2", other}, {"aescbc", "key1", key}, {"aesgcm", "g1", key}};
  auto cbc = DecryptValue("k8s:enc:aescbc:v1:key1:" + AesCbc(key, plain), etcd_key, keys);
  ASSERT_TRUE(cbc.has_value()) << cbc.error().ToString();
  EXPECT_EQ(*cbc, plain);
  auto gcm = DecryptValue("k8s:enc:aesgcm:v1:g1:" + AesGcm(key, plain, etcd_key), etcd_key, keys);
  ASSERT_TRUE(gcm.has_value()) << gcm.error().ToString();
  EXPECT_EQ(*gcm, plain);
  // aesgcm authenticates the etcd key: the value moved to another key fails.
  EXPECT_FALSE(
      DecryptValue("k8s:enc:aesgcm:v1:g1:" + AesGcm(key, plain, etcd_key), "/other", keys));
  // A key name the config lacks, a wrong key, an unsupported provider.
  auto missing = DecryptValue("k8s:enc:aescbc:v1:key9:" + AesCbc(key, plain), etcd_key, keys);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().what.find("key9"), std::string::npos);
  auto wrong = DecryptValue("k8s:enc:aescbc:v1:key2:" + AesCbc(key, plain), etcd_key, keys);
  EXPECT_FALSE(wrong.has_value() && *wrong == plain);
  auto sb = DecryptValue("k8s:enc:secretbox:v1:s:" + std::string(60, 'x'), etcd_key, keys);
  ASSERT_FALSE(sb.has_value());
  EXPECT_NE(sb.error().what.find("secretbox"), std::string::npos);
  EXPECT_FALSE(DecryptValue("k8s:enc:aescbc", etcd_key, keys).has_value());
  // Not encrypted: passed through.
  EXPECT_EQ(*DecryptValue(plain, etcd_key, keys), plain);
}

}  // namespace
}  // namespace cpr::k8s
