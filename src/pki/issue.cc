#include "pki/issue.h"

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pki/ossl.h"

namespace cpr::pki {
namespace {

Result<Asn1IntegerPtr> RandomSerial() {
  unsigned char buf[16];
  if (RAND_bytes(buf, sizeof buf) != 1)
    return OsslError(Code::kInternal, "serial", "the CSPRNG failed");
  buf[0] &= 0x7f;  // positive
  buf[0] |= 0x40;  // and exactly 16 bytes long, never zero
  BignumPtr bn(BN_bin2bn(buf, sizeof buf, nullptr));
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return OsslError(Code::kInternal, "serial", "cannot encode");
  return serial;
}

bool IsRsa(EVP_PKEY* key) { return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA; }

Result<void> AddExt(X509* x, Result<X509ExtPtr> ext) {
  if (!ext) return std::move(ext).error();
  if (X509_add_ext(x, ext->get(), -1) != 1)
    return OsslError(Code::kInternal, "certificate", "cannot add an extension");
  return {};
}

// subjectKeyIdentifier from the certificate's own key, and
// authorityKeyIdentifier (keyid) from the issuer's.
Result<void> AddKeyIds(X509* x, X509* issuer) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ski = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_key_identifier, "hash");
  if (!ski) return OsslError(Code::kInternal, "certificate", "cannot compute subjectKeyIdentifier");
  X509_add_ext(x, ski, -1);
  X509_EXTENSION_free(ski);
  if (issuer) {
    X509_EXTENSION* aki = X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid");
    // Left out when the issuer has no subjectKeyIdentifier (chains then
    // build by name alone).
    if (aki) {
      X509_add_ext(x, aki, -1);
      X509_EXTENSION_free(aki);
    }
    ClearOsslErrors();
  }
  return {};
}

Result<void> SetValidity(X509* x, int64_t not_before, int64_t not_after) {
  if (not_after <= not_before)
    return MakeError(Code::kInvalidArgument, "validity", "not-after must be later than not-before");
  // X.509 times end at 9999-12-31T23:59:59Z; nothing before 1970.
  constexpr int64_t kLastX509Second = 253402300799;
  if (not_before < 0 || not_after > kLastX509Second)
    return MakeError(Code::kInvalidArgument, "validity",
                     "validity outside 1970..9999 (a lifetime too long to represent)");
  if (!ASN1_TIME_set(X509_getm_notBefore(x), static_cast<time_t>(not_before)) ||
      !ASN1_TIME_set(X509_getm_notAfter(x), static_cast<time_t>(not_after)))
    return OsslError(Code::kInternal, "validity", "cannot set the validity");
  return {};
}

Result<X509Ptr> Skeleton(EVP_PKEY* subject_key, int64_t not_before, int64_t not_after) {
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);  // v3
  Asn1IntegerPtr serial = CPR_TRY(RandomSerial());
  X509_set_serialNumber(x.get(), serial.get());
  CPR_RETURN_IF_ERROR(SetValidity(x.get(), not_before, not_after));
  if (X509_set_pubkey(x.get(), subject_key) != 1)
    return OsslError(Code::kInvalidArgument, "certificate", "unusable public key");
  return x;
}

Result<Certificate> Build(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                          const PrivateKey& signer_key) {
  ClearOsslErrors();
  X509Ptr x = CPR_TRY(Skeleton(subject_key, spec.not_before, spec.not_after));
  X509NamePtr subject = CPR_TRY(NameToX509(spec.subject));
  X509_set_subject_name(x.get(), subject.get());
  X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : subject.get());
  CPR_RETURN_IF_ERROR(AddExt(x.get(), BasicConstraintsExtension(spec.is_ca, spec.path_len)));
  uint32_t ku = spec.key_usage;
  if (ku == 0) {
    ku = spec.is_ca ? (kCertSign | kCrlSign | kDigitalSignature)
                    : (kDigitalSignature | (IsRsa(subject_key) ? kKeyEncipherment : 0u));
  }
  CPR_RETURN_IF_ERROR(AddExt(x.get(), KeyUsageExtension(ku)));
  if (!spec.ext_key_usages.empty())
    CPR_RETURN_IF_ERROR(AddExt(x.get(), EkuExtension(spec.ext_key_usages)));
  CPR_RETURN_IF_ERROR(AddKeyIds(x.get(), issuer));
  if (!spec.dns_names.empty() || !spec.ip_addresses.empty())
    CPR_RETURN_IF_ERROR(AddExt(x.get(), SanExtension(spec.dns_names, spec.ip_addresses)));
  if (X509_sign(x.get(), signer_key.get(), EVP_sha256()) <= 0)
    return OsslError(Code::kInternal, "certificate", "signing failed");
  return Certificate::Adopt(x.release());
}

}  // namespace

Result<std::string> RandomSerialHex() {
  Asn1IntegerPtr serial = CPR_TRY(RandomSerial());
  BignumPtr bn(ASN1_INTEGER_to_BN(serial.get(), nullptr));
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex;
  OPENSSL_free(hex);
  return out;
}

Result<Certificate> IssueSelfSigned(const CertSpec& spec, const PrivateKey& key) {
  return Build(spec, key.get(), nullptr, key);
}

Result<Certificate> IssueSigned(const CertSpec& spec, EVP_PKEY* subject_key,
                                const Certificate& issuer, const PrivateKey& issuer_key) {
  if (!issuer.MatchesKey(issuer_key))
    return MakeError(Code::kInvalidArgument, "issuer",
                     "the CA key does not match the CA certificate");
  return Build(spec, subject_key, issuer.get(), issuer_key);
}

Result<Certificate> Reissue(const Certificate& old, EVP_PKEY* subject_key,
                            const Certificate* issuer, const PrivateKey& signer_key,
                            int64_t not_before, int64_t not_after) {
  ClearOsslErrors();
  if (issuer && !issuer->MatchesKey(signer_key))
    return MakeError(Code::kInvalidArgument, "issuer",
                     "the CA key does not match the CA certificate");
  X509* o = old.get();
  X509Ptr x = CPR_TRY(Skeleton(subject_key, not_before, not_after));
  X509_set_subject_name(x.get(), X509_get_subject_name(o));
  X509_set_issuer_name(x.get(),
                       issuer ? X509_get_subject_name(issuer->get()) : X509_get_subject_name(o));
  for (int i = 0; i < X509_get_ext_count(o); i++) {
    X509_EXTENSION* ext = X509_get_ext(o, i);
    const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (nid == NID_subject_key_identifier || nid == NID_authority_key_identifier) continue;
    if (X509_add_ext(x.get(), ext, -1) != 1)
      return OsslError(Code::kInternal, "certificate", "cannot copy an extension");
  }
  CPR_RETURN_IF_ERROR(AddKeyIds(x.get(), issuer ? issuer->get() : nullptr));
  if (X509_sign(x.get(), signer_key.get(), EVP_sha256()) <= 0)
    return OsslError(Code::kInternal, "certificate", "signing failed");
  return Certificate::Adopt(x.release());
}

}  // namespace cpr::pki
