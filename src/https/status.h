// What CPR's servers answer in the words of the Kubernetes API: a refusal
// is a `Status` object (kubectl and client-go print its message), and
// callers authenticate with `Authorization: Bearer <token>`. Shared by the
// server's own refusals, the signer and the recovery API.
#pragma once

#include <string>
#include <string_view>

namespace cpr::https {

// The Status reason for an HTTP status: 404 -> "NotFound", 409 ->
// "AlreadyExists", 413 -> "RequestEntityTooLarge", ...; "InternalError" for
// 5xx it does not know, "BadRequest" for other 4xx.
const char* StatusReason(int status);

// A Kubernetes Status object (JSON) with code `status`, `message`, and
// `reason` (StatusReason(status) when empty).
std::string StatusJson(int status, std::string_view message, std::string_view reason = {});

// The bearer token of an Authorization header value ("Bearer T", scheme in
// any case, blanks around T ignored); "" if none or longer than 4096.
std::string BearerToken(std::string_view authorization);

}  // namespace cpr::https
