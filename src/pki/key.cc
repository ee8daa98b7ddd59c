#include "pki/key.h"

#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <algorithm>
#include <charconv>

#include "pki/ossl.h"

namespace cpr::pki {

Result<KeySpec> ParseKeySpec(std::string_view text, const std::string& where) {
  KeySpec spec;
  if (text == "ecdsa" || text == "ec" || text == "ecdsa-p256" || text == "p256") {
    spec.type = KeyType::kEcdsaP256;
    return spec;
  }
  if (text.starts_with("rsa")) {
    spec.type = KeyType::kRsa;
    std::string_view rest = text.substr(3);
    if (rest.empty()) return spec;
    if (rest[0] == ':' || rest[0] == '-') rest.remove_prefix(1);
    int bits = 0;
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), bits);
    if (ec == std::errc() && p == rest.data() + rest.size() && bits >= 2048 && bits <= 8192 &&
        bits % 1024 == 0) {
      spec.rsa_bits = bits;
      return spec;
    }
  }
  return MakeError(Code::kInvalidArgument, where, fmt::format("unknown key type '{}'", text),
                   "use ecdsa (P-256, the default), rsa (2048), rsa:3072 or rsa:4096");
}

Result<PrivateKey> PrivateKey::Generate(const KeySpec& spec) {
  ClearOsslErrors();
  EVP_PKEY* raw = nullptr;
  if (spec.type == KeyType::kEcdsaP256) {
    raw = EVP_EC_gen("P-256");
  } else {
    if (spec.rsa_bits < 2048 || spec.rsa_bits > 8192)
      return MakeError(Code::kInvalidArgument, "key", "RSA keys must have 2048 to 8192 bits");
    raw = EVP_RSA_gen(static_cast<unsigned>(spec.rsa_bits));
  }
  if (!raw) return OsslError(Code::kInternal, "key", "key generation failed");
  return PrivateKey(std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free));
}

Result<PrivateKey> PrivateKey::GenerateLike(EVP_PKEY* like) {
  if (!like) return MakeError(Code::kInvalidArgument, "key", "no key to copy the kind of");
  if (EVP_PKEY_get_base_id(like) == EVP_PKEY_RSA) {
    KeySpec spec;
    spec.type = KeyType::kRsa;
    spec.rsa_bits = std::max(2048, EVP_PKEY_get_bits(like));
    return Generate(spec);
  }
  ClearOsslErrors();
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_get_base_id(like) == EVP_PKEY_EC) {
    char curve[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(like, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve,
                                       &len) == 1)
      raw = EVP_EC_gen(curve);
  } else if (EVP_PKEY_get_base_id(like) == EVP_PKEY_ED25519) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  }
  if (!raw)
    return OsslError(Code::kInternal, "key", "cannot generate a key like " + DescribeKey(like));
  return PrivateKey(std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free));
}

Result<PrivateKey> PrivateKey::FromPem(Bytes pem, const std::string& where) {
  ClearOsslErrors();
  if (pem.find("ENCRYPTED") != Bytes::npos)
    return MakeError(Code::kInvalidArgument, where, "the private key is encrypted",
                     "decrypt it first (openssl pkey -in KEY -out PLAIN)");
  BioPtr bio = MemBio(pem);
  // A null password callback that refuses: never prompt on the terminal.
  auto no_password = [](char*, int, int, void*) -> int { return -1; };
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr);
  if (!raw) return OsslError(Code::kCorrupt, where, "not a readable PEM private key");
  return PrivateKey(std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free));
}

std::string PrivateKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return BioContents(bio.get());
}

std::string PrivateKey::PublicKeyDer() const { return PublicKeyDerOf(key_.get()); }
std::string PrivateKey::Description() const { return DescribeKey(key_.get()); }

std::string PublicKeyDerOf(EVP_PKEY* key) {
  if (!key) return {};
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  if (n <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

std::string RsaPublicExponent(EVP_PKEY* key) {
  if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) return {};
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1 || !e) {
    ClearOsslErrors();
    return "unknown";
  }
  char* dec = BN_bn2dec(e);
  std::string out = dec ? dec : "unknown";
  OPENSSL_free(dec);
  BN_free(e);
  return out;
}

std::string DescribeKey(EVP_PKEY* key) {
  if (!key) return "none";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return fmt::format("RSA {}", EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      char curve[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve,
                                         &len) == 1) {
        std::string c(curve, len);
        if (c == "prime256v1") c = "P-256";
        if (c == "secp384r1") c = "P-384";
        if (c == "secp521r1") c = "P-521";
        return "ECDSA " + c;
      }
      return "ECDSA";
    }
    case EVP_PKEY_ED25519:
      return "Ed25519";
    default:
      return fmt::format("{} {}", OBJ_nid2sn(EVP_PKEY_get_base_id(key)), EVP_PKEY_get_bits(key));
  }
}

}  // namespace cpr::pki
