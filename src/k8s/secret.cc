#include "k8s/secret.h"

#include <openssl/evp.h>

#include <memory>

#include "k8s/value_internal.h"
#include "util/protowire.h"

namespace cpr::k8s {

std::optional<SecretData> DecodeSecret(Bytes value) {
  std::optional<internal::Envelope> e = internal::ParseEnvelope(value);
  if (!e || !internal::RawIsProtobuf(*e) || e->kind != "Secret" || e->api_version != "v1")
    return std::nullopt;
  SecretData s;
  WireReader r(e->raw);
  WireField f;
  while (r.Next(f)) {
    if (f.number > 3) continue;
    if (f.type != WireType::kLen) return std::nullopt;
    if (f.number == 1) {  // ObjectMeta {1 name, 3 namespace}
      WireReader m(f.bytes);
      WireField mf;
      while (m.Next(mf)) {
        if (mf.type != WireType::kLen) continue;
        if (mf.number == 1) s.name = std::string(mf.bytes);
        if (mf.number == 3) s.namespace_ = std::string(mf.bytes);
      }
      if (m.error()) return std::nullopt;
    } else if (f.number == 2) {  // map entry {1 key, 2 value}
      WireReader m(f.bytes);
      WireField mf;
      std::string k, v;
      while (m.Next(mf)) {
        if (mf.type != WireType::kLen) return std::nullopt;
        if (mf.number == 1) k = std::string(mf.bytes);
        if (mf.number == 2) v = std::string(mf.bytes);
      }
      if (m.error()) return std::nullopt;
      s.data[k] = std::move(v);
    } else if (f.number == 3) {
      s.type = std::string(f.bytes);
    }
  }
  if (r.error()) return std::nullopt;
  return s;
}

namespace {

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const EVP_CIPHER* AesCipher(size_t key_len, bool gcm) {
  switch (key_len) {
    case 16:
      return gcm ? EVP_aes_128_gcm() : EVP_aes_128_cbc();
    case 24:
      return gcm ? EVP_aes_192_gcm() : EVP_aes_192_cbc();
    case 32:
      return gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
    default:
      return nullptr;
  }
}

std::optional<std::string> AesCbcDecrypt(const std::string& key, Bytes body) {
  const EVP_CIPHER* cipher = AesCipher(key.size(), false);
  if (!cipher || body.size() < 32 || body.size() % 16 != 0) return std::nullopt;
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  const auto* iv = reinterpret_cast<const unsigned char*>(body.data());
  if (EVP_DecryptInit_ex(ctx.get(), cipher, nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), iv) != 1)
    return std::nullopt;
  std::string out(body.size(), '\0');
  int n1 = 0, n2 = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecryptUpdate(ctx.get(), o, &n1, iv + 16, static_cast<int>(body.size() - 16)) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), o + n1, &n2) != 1)
    return std::nullopt;  // bad padding: the wrong key
  out.resize(static_cast<size_t>(n1) + static_cast<size_t>(n2));
  return out;
}

std::optional<std::string> AesGcmDecrypt(const std::string& key, Bytes body, Bytes aad) {
  const EVP_CIPHER* cipher = AesCipher(key.size(), true);
  if (!cipher || body.size() < 12 + 16) return std::nullopt;
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  const auto* nonce = reinterpret_cast<const unsigned char*>(body.data());
  const size_t ct_len = body.size() - 12 - 16;
  std::string tag(body.substr(12 + ct_len));
  std::string out(ct_len + 16, '\0');
  int n = 0, m = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), nonce) != 1)
    return std::nullopt;
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1)
    return std::nullopt;
  if (EVP_DecryptUpdate(ctx.get(), o, &n, nonce + 12, static_cast<int>(ct_len)) != 1)
    return std::nullopt;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), o + n, &m) != 1)
    return std::nullopt;  // authentication failed: the wrong key (or key name)
  out.resize(static_cast<size_t>(n) + static_cast<size_t>(m));
  return out;
}

}  // namespace

Result<std::string> DecryptValue(Bytes value, Bytes etcd_key,
                                 const std::vector<EncryptionKey>& keys) {
  if (!value.starts_with(internal::kEncryptedPrefix)) return std::string(value);
  const std::string where(etcd_key);
  // k8s:enc:<provider>:v1:<name>:<body>
  Bytes rest = value.substr(internal::kEncryptedPrefix.size());
  size_t c1 = rest.find(':');
  if (c1 == Bytes::npos) return MakeError(Code::kCorrupt, where, "malformed encryption prefix");
  const std::string provider(rest.substr(0, c1));
  rest.remove_prefix(c1 + 1);
  size_t c2 = rest.find(':');
  if (c2 == Bytes::npos) return MakeError(Code::kCorrupt, where, "malformed encryption prefix");
  const std::string version(rest.substr(0, c2));
  rest.remove_prefix(c2 + 1);
  size_t c3 = rest.find(':');
  if (c3 > 256)  // npos too: no key name
    return MakeError(Code::kCorrupt, where, "malformed encryption prefix (no key name)");
  const std::string name(rest.substr(0, c3));
  const Bytes body = rest.substr(c3 + 1);
  if (version != "v1" || (provider != "aescbc" && provider != "aesgcm"))
    return MakeError(Code::kFailedPrecondition, where,
                     "encrypted with " + provider + ":" + version + ", which CPR cannot decrypt",
                     "only aescbc and aesgcm (what OpenShift uses) are supported offline");
  bool named = false;
  for (const auto& k : keys) {
    if (k.provider != provider || k.name != name) continue;
    named = true;
    auto plain = provider == "aescbc" ? AesCbcDecrypt(k.secret, body)
                                      : AesGcmDecrypt(k.secret, body, etcd_key);
    if (plain) return *plain;
  }
  if (!named)
    return MakeError(Code::kFailedPrecondition, where,
                     "encrypted with " + provider + " key '" + name +
                         "', which the encryption config does not have",
                     "pass the API server's encryption-config of the backup's time");
  return MakeError(Code::kFailedPrecondition, where,
                   "decryption with " + provider + " key '" + name + "' failed (a wrong key?)");
}

}  // namespace cpr::k8s
