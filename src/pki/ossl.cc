#include "pki/ossl.h"

#include <openssl/err.h>

#include <ctime>

namespace cpr::pki {

Error OsslError(Code code, const std::string& where, const std::string& what) {
  std::string reasons;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(e);
    if (!reasons.empty()) reasons += "; ";
    reasons += reason ? reason : buf;
  }
  return MakeError(code, where, reasons.empty() ? what : what + ": " + reasons);
}

void ClearOsslErrors() { ERR_clear_error(); }

BioPtr MemBio(Bytes data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string BioContents(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  if (n <= 0 || !p) return {};
  return std::string(p, static_cast<size_t>(n));
}

bool Asn1TimeToUnix(const ASN1_TIME* t, int64_t* out) {
  if (!t) return false;
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return false;
  *out = static_cast<int64_t>(timegm(&tm));
  return true;
}

}  // namespace cpr::pki
