#include "pki/cert.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/ossl.h"
#include "util/atomic_file.h"
#include "util/hash.h"

namespace cpr::pki {
namespace {

constexpr std::string_view kBeginCert = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kEndCert = "-----END CERTIFICATE-----";

std::string Asn1ToUtf8(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0) return {};
  std::string r(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  OPENSSL_free(out);
  return r;
}

std::string ObjName(const ASN1_OBJECT* obj) {
  int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) return OBJ_nid2sn(nid);
  char buf[128];
  OBJ_obj2txt(buf, sizeof buf, obj, 1);
  return buf;
}

std::string HexBytes(const unsigned char* p, size_t n) {
  return HexOf(Bytes(reinterpret_cast<const char*>(p), n));
}

}  // namespace

// ---- Name --------------------------------------------------------------------

Name Name::Of(const std::string& common_name, const std::vector<std::string>& orgs) {
  Name n;
  for (const auto& o : orgs) n.entries.emplace_back("O", o);
  n.entries.emplace_back("CN", common_name);
  return n;
}

std::string Name::CommonName() const {
  std::string cn;
  for (const auto& [k, v] : entries)
    if (k == "CN") cn = v;
  return cn;
}

std::vector<std::string> Name::Organizations() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries)
    if (k == "O") out.push_back(v);
  return out;
}

std::string Name::ToString() const {
  std::string out;
  for (const auto& [k, v] : entries) {
    if (!out.empty()) out += ", ";
    out += k + "=" + v;
  }
  return out;
}

Name NameFromX509(const X509_NAME* name) {
  Name n;
  if (!name) return n;
  for (int i = 0; i < X509_NAME_entry_count(name); i++) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    n.entries.emplace_back(ObjName(X509_NAME_ENTRY_get_object(e)),
                           Asn1ToUtf8(X509_NAME_ENTRY_get_data(e)));
  }
  return n;
}

// Used by csr.cc as well.
void SansFromGeneralNames(const GENERAL_NAMES* names, std::vector<std::string>& dns,
                          std::vector<std::string>& ips, std::vector<std::string>& other) {
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    switch (g->type) {
      case GEN_DNS:
        dns.push_back(Asn1ToUtf8(g->d.dNSName));
        break;
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* o = g->d.iPAddress;
        char buf[INET6_ADDRSTRLEN] = {0};
        if (o->length == 4)
          inet_ntop(AF_INET, o->data, buf, sizeof buf);
        else if (o->length == 16)
          inet_ntop(AF_INET6, o->data, buf, sizeof buf);
        else
          snprintf(buf, sizeof buf, "<%d-byte address>", o->length);
        ips.push_back(buf);
        break;
      }
      case GEN_EMAIL:
        other.push_back("email:" + Asn1ToUtf8(g->d.rfc822Name));
        break;
      case GEN_URI:
        other.push_back("URI:" + Asn1ToUtf8(g->d.uniformResourceIdentifier));
        break;
      default:
        other.push_back(fmt::format("type{}", g->type));
    }
  }
}

std::vector<std::string> ExtKeyUsagesOf(const EXTENDED_KEY_USAGE* eku) {
  std::vector<std::string> out;
  if (!eku) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
    out.push_back(ObjName(sk_ASN1_OBJECT_value(eku, i)));
  return out;
}

uint32_t KeyUsageBits(const ASN1_BIT_STRING* ku) {
  if (!ku) return 0;
  uint32_t out = 0;
  if (ASN1_BIT_STRING_get_bit(ku, 0)) out |= kDigitalSignature;
  if (ASN1_BIT_STRING_get_bit(ku, 2)) out |= kKeyEncipherment;
  if (ASN1_BIT_STRING_get_bit(ku, 5)) out |= kCertSign;
  if (ASN1_BIT_STRING_get_bit(ku, 6)) out |= kCrlSign;
  for (int b : {1, 3, 4, 7, 8})
    if (ASN1_BIT_STRING_get_bit(ku, b)) out |= kOtherKeyUsage;
  return out;
}

// ---- Certificate -------------------------------------------------------------

Certificate Certificate::Adopt(X509* x509) {
  return Certificate(std::shared_ptr<X509>(x509, X509_free));
}

Result<Certificate> Certificate::FromPem(Bytes pem, const std::string& where) {
  auto all = CPR_TRY(AllFromPem(pem, where));
  if (all.empty()) return MakeError(Code::kCorrupt, where, "no PEM certificate found");
  return all.front();
}

Result<std::vector<Certificate>> Certificate::AllFromPem(Bytes pem, const std::string& where) {
  std::vector<Certificate> out;
  size_t pos = 0;
  int block = 0;
  while ((pos = pem.find(kBeginCert, pos)) != Bytes::npos) {
    block++;
    size_t end = pem.find(kEndCert, pos);
    if (end == Bytes::npos)
      return MakeError(Code::kCorrupt, where,
                       fmt::format("certificate {}: no END CERTIFICATE line", block));
    end += kEndCert.size();
    ClearOsslErrors();
    BioPtr bio = MemBio(pem.substr(pos, end - pos));
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!x)
      return OsslError(Code::kCorrupt, where, fmt::format("certificate {} does not parse", block));
    out.push_back(Adopt(x));
    pos = end;
  }
  return out;
}

Result<Certificate> Certificate::FromDer(Bytes der, const std::string& where) {
  ClearOsslErrors();
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (!x) return OsslError(Code::kCorrupt, where, "DER certificate does not parse");
  return Adopt(x);
}

std::string Certificate::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x509_.get());
  return BioContents(bio.get());
}

std::string Certificate::ToDer() const {
  unsigned char* der = nullptr;
  int n = i2d_X509(x509_.get(), &der);
  if (n <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

std::string Certificate::PublicKeyDer() const {
  return PublicKeyDerOf(X509_get0_pubkey(x509_.get()));
}

bool Certificate::IssuedBy(const Certificate& issuer) const {
  if (X509_NAME_cmp(X509_get_issuer_name(x509_.get()), X509_get_subject_name(issuer.get())) != 0)
    return false;
  EVP_PKEY* pub = X509_get0_pubkey(issuer.get());
  if (!pub) return false;
  ClearOsslErrors();
  const bool ok = X509_verify(x509_.get(), pub) == 1;
  ClearOsslErrors();
  return ok;
}

CertInfo Certificate::Info() const {
  X509* x = x509_.get();
  CertInfo info;
  info.subject = NameFromX509(X509_get_subject_name(x));
  info.issuer = NameFromX509(X509_get_issuer_name(x));
  info.self_issued = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  SansFromGeneralNames(sans, info.dns_names, info.ip_addresses, info.other_sans);
  GENERAL_NAMES_free(sans);
  Asn1TimeToUnix(X509_get0_notBefore(x), &info.not_before);
  Asn1TimeToUnix(X509_get0_notAfter(x), &info.not_after);
  if (const ASN1_INTEGER* serial = X509_get0_serialNumber(x)) {
    BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
    if (bn) {
      char* hex = BN_bn2hex(bn.get());
      info.serial_hex = hex ? hex : "";
      OPENSSL_free(hex);
    }
  }
  auto* bc =
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x, NID_basic_constraints, nullptr, nullptr));
  if (bc) {
    info.is_ca = bc->ca != 0;
    if (bc->pathlen) info.path_len = static_cast<int>(ASN1_INTEGER_get(bc->pathlen));
    BASIC_CONSTRAINTS_free(bc);
  }
  auto* ku = static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(x, NID_key_usage, nullptr, nullptr));
  if (ku) {
    info.has_key_usage = true;
    info.key_usage = KeyUsageBits(ku);
    ASN1_BIT_STRING_free(ku);
  }
  auto* eku =
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(x, NID_ext_key_usage, nullptr, nullptr));
  info.ext_key_usages = ExtKeyUsagesOf(eku);
  EXTENDED_KEY_USAGE_free(eku);
  info.key_description = DescribeKey(X509_get0_pubkey(x));
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(x))
    info.subject_key_id = HexBytes(ski->data, static_cast<size_t>(ski->length));
  if (const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(x))
    info.authority_key_id = HexBytes(aki->data, static_cast<size_t>(aki->length));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(x, EVP_sha256(), md, &md_len) == 1)
    info.sha256_fingerprint = HexBytes(md, md_len);
  ClearOsslErrors();
  return info;
}

// ---- files -------------------------------------------------------------------

Result<std::vector<Certificate>> ReadCertificates(const std::string& path) {
  std::string text = CPR_TRY(ReadFileLimited(path, 4u << 20));
  auto certs = CPR_TRY(Certificate::AllFromPem(text, path));
  if (certs.empty())
    return MakeError(Code::kCorrupt, path, "no PEM certificate (BEGIN CERTIFICATE) in the file");
  return certs;
}

Result<PrivateKey> ReadPrivateKey(const std::string& path) {
  std::string text = CPR_TRY(ReadFileLimited(path, 1u << 20));
  auto key = PrivateKey::FromPem(text, path);
  // Do not keep key bytes around longer than needed.
  OPENSSL_cleanse(text.data(), text.size());
  return key;
}

Result<void> WritePrivateKey(const std::string& path, const PrivateKey& key) {
  std::string pem = key.ToPem();
  auto r = WriteFileAtomic(path, pem, 0600);
  OPENSSL_cleanse(pem.data(), pem.size());
  return r;
}

Result<void> WriteCertificates(const std::string& path, const std::vector<Certificate>& certs) {
  std::string pem;
  for (const auto& c : certs) pem += c.ToPem();
  return WriteFileAtomic(path, pem, 0644);
}

}  // namespace cpr::pki
