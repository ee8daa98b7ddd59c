// OpenSSL plumbing shared by the pki layer: owning pointers for OpenSSL
// objects and the error queue as an Error. Not for use outside src/pki/ and
// src/signer/ (which needs the raw objects to set up TLS).
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "pki/cert.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cpr::pki {

template <class T, void (*Free)(T*)>
struct OsslDeleter {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509, X509_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, OsslDeleter<X509_REQ, X509_REQ_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OsslDeleter<X509_NAME, X509_NAME_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OsslDeleter<X509_STORE, X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, OsslDeleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using X509ExtPtr =
    std::unique_ptr<X509_EXTENSION, OsslDeleter<X509_EXTENSION, X509_EXTENSION_free>>;
using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO, BIO_free_all>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OsslDeleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OsslDeleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OsslDeleter<BIGNUM, BN_free>>;

// Drains OpenSSL's thread-local error queue into one Error: "what: reason; reason".
Error OsslError(Code code, const std::string& where, const std::string& what);

// Clears the thread's error queue (before an operation whose failure is
// expected and handled, so stale errors do not leak into later messages).
void ClearOsslErrors();

// A read-only memory BIO over `data` (which must outlive the BIO).
BioPtr MemBio(Bytes data);
// Everything written to a memory BIO.
std::string BioContents(BIO* bio);

// Unix seconds of an ASN1_TIME (UTCTime or GeneralizedTime).
bool Asn1TimeToUnix(const ASN1_TIME* t, int64_t* out);

// Decoders shared by cert.cc and csr.cc.
Name NameFromX509(const X509_NAME* name);
void SansFromGeneralNames(const GENERAL_NAMES* names, std::vector<std::string>& dns,
                          std::vector<std::string>& ips, std::vector<std::string>& other);
std::vector<std::string> ExtKeyUsagesOf(const EXTENDED_KEY_USAGE* eku);
uint32_t KeyUsageBits(const ASN1_BIT_STRING* ku);
// Builds an X509_NAME from a Name (attribute short names or dotted OIDs).
Result<X509NamePtr> NameToX509(const Name& name);
// Extension builders (csr.cc), for requests and certificates.
Result<X509ExtPtr> SanExtension(const std::vector<std::string>& dns,
                                const std::vector<std::string>& ips);
Result<X509ExtPtr> EkuExtension(const std::vector<std::string>& usages);
Result<X509ExtPtr> BasicConstraintsExtension(bool ca, int path_len);
Result<X509ExtPtr> KeyUsageExtension(uint32_t bits);

}  // namespace cpr::pki
