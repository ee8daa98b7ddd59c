#include "pki/csr.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/ossl.h"

namespace cpr::pki {

// ---- extension builders (declared in ossl.h, used by issue.cc too) -----------

Result<X509NamePtr> NameToX509(const Name& name) {
  X509NamePtr out(X509_NAME_new());
  for (const auto& [k, v] : name.entries) {
    if (X509_NAME_add_entry_by_txt(out.get(), k.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(v.data()),
                                   static_cast<int>(v.size()), -1, 0) != 1)
      return OsslError(Code::kInvalidArgument, "subject", "bad name attribute " + k + "=" + v);
  }
  return out;
}

Result<X509ExtPtr> SanExtension(const std::vector<std::string>& dns,
                                const std::vector<std::string>& ips) {
  GENERAL_NAMES* gens = sk_GENERAL_NAME_new_null();
  auto fail = [&](Error e) -> Result<X509ExtPtr> {
    GENERAL_NAMES_free(gens);
    return e;
  };
  for (const auto& d : dns) {
    GENERAL_NAME* g = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, d.data(), static_cast<int>(d.size()));
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    sk_GENERAL_NAME_push(gens, g);
  }
  for (const auto& ip : ips) {
    ASN1_OCTET_STRING* o = a2i_IPADDRESS(ip.c_str());
    if (!o)
      return fail(MakeError(Code::kInvalidArgument, "SAN", "not an IP address: '" + ip + "'"));
    GENERAL_NAME* g = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(g, GEN_IPADD, o);
    sk_GENERAL_NAME_push(gens, g);
  }
  X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
  GENERAL_NAMES_free(gens);
  if (!ext) return OsslError(Code::kInternal, "SAN", "cannot encode subjectAltName");
  return X509ExtPtr(ext);
}

Result<X509ExtPtr> EkuExtension(const std::vector<std::string>& usages) {
  EXTENDED_KEY_USAGE* eku = sk_ASN1_OBJECT_new_null();
  for (const auto& u : usages) {
    ASN1_OBJECT* obj = OBJ_txt2obj(u.c_str(), 0);
    if (!obj) {
      sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
      return MakeError(Code::kInvalidArgument, "extendedKeyUsage", "unknown usage '" + u + "'");
    }
    sk_ASN1_OBJECT_push(eku, obj);
  }
  X509_EXTENSION* ext = X509V3_EXT_i2d(NID_ext_key_usage, 0, eku);
  sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
  if (!ext) return OsslError(Code::kInternal, "extendedKeyUsage", "cannot encode");
  return X509ExtPtr(ext);
}

Result<X509ExtPtr> BasicConstraintsExtension(bool ca, int path_len) {
  BASIC_CONSTRAINTS* bc = BASIC_CONSTRAINTS_new();
  bc->ca = ca ? 0xff : 0;
  if (ca && path_len >= 0) {
    bc->pathlen = ASN1_INTEGER_new();
    ASN1_INTEGER_set(bc->pathlen, path_len);
  }
  X509_EXTENSION* ext = X509V3_EXT_i2d(NID_basic_constraints, 1, bc);
  BASIC_CONSTRAINTS_free(bc);
  if (!ext) return OsslError(Code::kInternal, "basicConstraints", "cannot encode");
  return X509ExtPtr(ext);
}

Result<X509ExtPtr> KeyUsageExtension(uint32_t bits) {
  ASN1_BIT_STRING* ku = ASN1_BIT_STRING_new();
  if (bits & kDigitalSignature) ASN1_BIT_STRING_set_bit(ku, 0, 1);
  if (bits & kKeyEncipherment) ASN1_BIT_STRING_set_bit(ku, 2, 1);
  if (bits & kCertSign) ASN1_BIT_STRING_set_bit(ku, 5, 1);
  if (bits & kCrlSign) ASN1_BIT_STRING_set_bit(ku, 6, 1);
  X509_EXTENSION* ext = X509V3_EXT_i2d(NID_key_usage, 1, ku);
  ASN1_BIT_STRING_free(ku);
  if (!ext) return OsslError(Code::kInternal, "keyUsage", "cannot encode");
  return X509ExtPtr(ext);
}

// ---- CertRequest ---------------------------------------------------------------

Result<CertRequest> CertRequest::Create(const PrivateKey& key, const CsrSpec& spec) {
  ClearOsslErrors();
  std::shared_ptr<X509_REQ> req(X509_REQ_new(), X509_REQ_free);
  X509_REQ_set_version(req.get(), 0);
  X509NamePtr name = CPR_TRY(NameToX509(spec.subject));
  X509_REQ_set_subject_name(req.get(), name.get());
  X509_REQ_set_pubkey(req.get(), key.get());
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  auto push = [&](Result<X509ExtPtr> r) -> Result<void> {
    if (!r) return std::move(r).error();
    sk_X509_EXTENSION_push(exts, r->release());
    return {};
  };
  Result<void> built;
  if (!spec.dns_names.empty() || !spec.ip_addresses.empty())
    built = push(SanExtension(spec.dns_names, spec.ip_addresses));
  if (built && !spec.ext_key_usages.empty()) built = push(EkuExtension(spec.ext_key_usages));
  if (built && spec.request_ca) built = push(BasicConstraintsExtension(true, -1));
  if (built && sk_X509_EXTENSION_num(exts) > 0 && X509_REQ_add_extensions(req.get(), exts) != 1)
    built = OsslError(Code::kInternal, "CSR", "cannot add extensions");
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  CPR_RETURN_IF_ERROR(built);
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0)
    return OsslError(Code::kInternal, "CSR", "signing the request failed");
  return CertRequest(std::move(req));
}

Result<CertRequest> CertRequest::FromPem(Bytes pem, const std::string& where) {
  ClearOsslErrors();
  if (pem.find("-----BEGIN CERTIFICATE REQUEST-----") == Bytes::npos &&
      pem.find("-----BEGIN NEW CERTIFICATE REQUEST-----") == Bytes::npos)
    return MakeError(Code::kInvalidArgument, where, "no PEM CERTIFICATE REQUEST block");
  BioPtr bio = MemBio(pem);
  X509_REQ* r = PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr);
  if (!r) return OsslError(Code::kInvalidArgument, where, "the certificate request does not parse");
  return CertRequest(std::shared_ptr<X509_REQ>(r, X509_REQ_free));
}

std::string CertRequest::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req_.get());
  return BioContents(bio.get());
}

EVP_PKEY* CertRequest::public_key() const { return X509_REQ_get0_pubkey(req_.get()); }

std::string CertRequest::PublicKeyDer() const { return PublicKeyDerOf(public_key()); }

CsrInfo CertRequest::Info() const {
  CsrInfo info;
  X509_REQ* r = req_.get();
  info.subject = NameFromX509(X509_REQ_get_subject_name(r));
  EVP_PKEY* pub = X509_REQ_get0_pubkey(r);
  info.key_description = DescribeKey(pub);
  ClearOsslErrors();
  info.signature_valid = pub && X509_REQ_verify(r, pub) == 1;
  ClearOsslErrors();
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(r);
  for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts); i++) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    const bool known = nid == NID_subject_alt_name || nid == NID_ext_key_usage ||
                       nid == NID_basic_constraints || nid == NID_key_usage;
    void* decoded = known ? X509V3_EXT_d2i(ext) : nullptr;
    switch (nid) {
      case NID_subject_alt_name:
        SansFromGeneralNames(static_cast<GENERAL_NAMES*>(decoded), info.dns_names,
                             info.ip_addresses, info.other_sans);
        GENERAL_NAMES_free(static_cast<GENERAL_NAMES*>(decoded));
        break;
      case NID_ext_key_usage:
        info.ext_key_usages = ExtKeyUsagesOf(static_cast<EXTENDED_KEY_USAGE*>(decoded));
        EXTENDED_KEY_USAGE_free(static_cast<EXTENDED_KEY_USAGE*>(decoded));
        break;
      case NID_basic_constraints: {
        auto* bc = static_cast<BASIC_CONSTRAINTS*>(decoded);
        info.has_basic_constraints = true;
        // An undecodable basicConstraints counts as a CA request: refuse, never guess.
        info.requests_ca = !bc || bc->ca != 0;
        BASIC_CONSTRAINTS_free(bc);
        break;
      }
      case NID_key_usage:
        info.key_usage = KeyUsageBits(static_cast<ASN1_BIT_STRING*>(decoded));
        ASN1_BIT_STRING_free(static_cast<ASN1_BIT_STRING*>(decoded));
        break;
      default: {
        char buf[128];
        OBJ_obj2txt(buf, sizeof buf, X509_EXTENSION_get_object(ext), 0);
        info.other_extensions.push_back(buf);
      }
    }
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  ClearOsslErrors();
  return info;
}

}  // namespace cpr::pki
