#include "pki/verify.h"

#include <fmt/format.h>
#include <openssl/x509_vfy.h>

#include "pki/ossl.h"

namespace cpr::pki {

Result<void> VerifyChain(const Certificate& leaf, const std::vector<Certificate>& trusted,
                         const std::vector<Certificate>& intermediates,
                         const VerifyOptions& options) {
  ClearOsslErrors();
  if (trusted.empty())
    return MakeError(Code::kInvalidArgument, "verify", "no trusted CA certificate given");
  X509StorePtr store(X509_STORE_new());
  for (const auto& c : trusted) X509_STORE_add_cert(store.get(), c.get());
  ClearOsslErrors();  // duplicates are harmless
  STACK_OF(X509)* chain = sk_X509_new_null();
  for (const auto& c : intermediates) sk_X509_push(chain, c.get());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), chain) != 1) {
    sk_X509_free(chain);
    return OsslError(Code::kInternal, "verify", "cannot set up the verifier");
  }
  unsigned long flags = X509_V_FLAG_PARTIAL_CHAIN;
  if (options.at_time) {
    X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(*options.at_time));
  } else {
    flags |= X509_V_FLAG_NO_CHECK_TIME;
  }
  X509_STORE_CTX_set_flags(ctx.get(), flags);
  if (options.purpose == "serverAuth")
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  else if (options.purpose == "clientAuth")
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  sk_X509_free(chain);
  ClearOsslErrors();
  if (ok == 1) return {};
  return MakeError(Code::kFailedPrecondition, "verify",
                   fmt::format("{} (at depth {})", X509_verify_cert_error_string(err), depth));
}

}  // namespace cpr::pki
