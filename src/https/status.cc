#include "https/status.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace cpr::https {

const char* StatusReason(int status) {
  switch (status) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 408:
      return "Timeout";
    case 409:
      return "AlreadyExists";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    default:
      return status >= 400 && status < 500 ? "BadRequest" : "InternalError";
  }
}

std::string StatusJson(int status, std::string_view message, std::string_view reason) {
  using Json = nlohmann::ordered_json;
  Json j{{"kind", "Status"},
         {"apiVersion", "v1"},
         {"metadata", Json::object()},
         {"status", "Failure"},
         {"message", message},
         {"reason", reason.empty() ? std::string_view(StatusReason(status)) : reason},
         {"code", status}};
  return j.dump(-1, ' ', true, Json::error_handler_t::replace);
}

std::string BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); i++)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  std::string_view t = authorization.substr(kScheme.size());
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r'))
    t.remove_suffix(1);
  if (t.size() > 4096) return {};
  return std::string(t);
}

}  // namespace cpr::https
