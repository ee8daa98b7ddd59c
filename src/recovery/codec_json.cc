// JSON encoding of CertificateSigningRequest (k8s-csr-api.md §3.2): what
// kubectl prints, posts and PUTs back.
#include <fmt/format.h>

#include "recovery/codec.h"
#include "signer/core.h"
#include "util/text.h"

namespace cpr::recovery {
namespace {

Json ConditionJson(const Condition& c) {
  Json j{{"type", c.type}, {"status", c.status}};
  if (!c.reason.empty()) j["reason"] = c.reason;
  if (!c.message.empty()) j["message"] = c.message;
  if (!c.last_update_time.empty()) j["lastUpdateTime"] = c.last_update_time;
  if (!c.last_transition_time.empty()) j["lastTransitionTime"] = c.last_transition_time;
  return j;
}

// Field readers that say which field is wrong.
Result<std::string> Str(const Json& obj, const char* key, const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return std::string();
  if (!obj[key].is_string()) return MakeError(Code::kInvalidArgument, where + key, "not a string");
  return obj[key].get<std::string>();
}

Result<std::vector<std::string>> StrList(const Json& obj, const char* key,
                                         const std::string& where) {
  std::vector<std::string> out;
  if (!obj.contains(key) || obj[key].is_null()) return out;
  if (!obj[key].is_array())
    return MakeError(Code::kInvalidArgument, where + key, "not a list of strings");
  for (const auto& v : obj[key]) {
    if (!v.is_string())
      return MakeError(Code::kInvalidArgument, where + key, "not a list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::map<std::string, std::string>> StrMap(const Json& obj, const char* key,
                                                  const std::string& where) {
  std::map<std::string, std::string> out;
  if (!obj.contains(key) || obj[key].is_null()) return out;
  if (!obj[key].is_object()) return MakeError(Code::kInvalidArgument, where + key, "not a map");
  for (const auto& [k, v] : obj[key].items()) {
    if (!v.is_string())
      return MakeError(Code::kInvalidArgument, where + key + "." + k, "not a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

Result<const Json*> Obj(const Json& parent, const char* key) {
  static const Json kEmpty = Json::object();
  if (!parent.contains(key) || parent[key].is_null()) return &kEmpty;
  if (!parent[key].is_object()) return MakeError(Code::kInvalidArgument, key, "not an object");
  return &parent[key];
}

}  // namespace

Json CsrToJson(const Csr& c, const std::string& version) {
  Json meta{{"name", c.name}};
  if (!c.generate_name.empty()) meta["generateName"] = c.generate_name;
  meta["uid"] = c.uid;
  meta["resourceVersion"] = std::to_string(c.resource_version);
  meta["creationTimestamp"] = c.creation_timestamp;
  if (!c.labels.empty()) meta["labels"] = c.labels;
  if (!c.annotations.empty()) meta["annotations"] = c.annotations;
  Json spec{{"request", Base64Encode(c.request)}};
  if (!c.signer_name.empty()) spec["signerName"] = c.signer_name;
  if (c.expiration_seconds) spec["expirationSeconds"] = *c.expiration_seconds;
  spec["usages"] = c.usages;
  spec["username"] = c.username;
  if (!c.user_uid.empty()) spec["uid"] = c.user_uid;
  spec["groups"] = c.groups;
  Json status = Json::object();
  if (!c.conditions.empty()) {
    status["conditions"] = Json::array();
    for (const auto& cond : c.conditions) status["conditions"].push_back(ConditionJson(cond));
  }
  if (!c.certificate.empty()) status["certificate"] = Base64Encode(c.certificate);
  return Json{{"kind", "CertificateSigningRequest"},
              {"apiVersion", std::string(kGroup) + "/" + version},
              {"metadata", meta},
              {"spec", spec},
              {"status", status}};
}

Result<Csr> CsrFromJson(std::string_view body) {
  // Absurd nesting is refused before the (recursive) parser sees it.
  if (signer::JsonDepth(body) > 32)
    return MakeError(Code::kInvalidArgument, "body", "JSON nested deeper than 32 levels");
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return MakeError(Code::kInvalidArgument, "body", "not a JSON object");
  Csr c;
  const Json& meta = *CPR_TRY(Obj(j, "metadata"));
  const Json& spec = *CPR_TRY(Obj(j, "spec"));
  const Json& status = *CPR_TRY(Obj(j, "status"));
  c.name = CPR_TRY(Str(meta, "name", "metadata."));
  c.generate_name = CPR_TRY(Str(meta, "generateName", "metadata."));
  c.uid = CPR_TRY(Str(meta, "uid", "metadata."));
  const std::string rv = CPR_TRY(Str(meta, "resourceVersion", "metadata."));
  if (!rv.empty()) {
    auto n = ParseInt64(rv);
    if (!n || *n < 0)
      return MakeError(Code::kInvalidArgument, "metadata.resourceVersion", "not a number");
    c.resource_version = *n;
    c.has_body_resource_version = true;
  }
  c.creation_timestamp = CPR_TRY(Str(meta, "creationTimestamp", "metadata."));
  c.labels = CPR_TRY(StrMap(meta, "labels", "metadata."));
  c.annotations = CPR_TRY(StrMap(meta, "annotations", "metadata."));
  const std::string request = CPR_TRY(Str(spec, "request", "spec."));
  auto pem = Base64Decode(request);
  if (!pem) return MakeError(Code::kInvalidArgument, "spec.request", "not base64");
  c.request = *pem;
  c.signer_name = CPR_TRY(Str(spec, "signerName", "spec."));
  c.usages = CPR_TRY(StrList(spec, "usages", "spec."));
  c.username = CPR_TRY(Str(spec, "username", "spec."));
  c.user_uid = CPR_TRY(Str(spec, "uid", "spec."));
  c.groups = CPR_TRY(StrList(spec, "groups", "spec."));
  if (spec.contains("expirationSeconds") && !spec["expirationSeconds"].is_null()) {
    if (!spec["expirationSeconds"].is_number_integer())
      return MakeError(Code::kInvalidArgument, "spec.expirationSeconds", "not an integer");
    c.expiration_seconds = spec["expirationSeconds"].get<int64_t>();
  }
  if (status.contains("conditions") && !status["conditions"].is_null()) {
    if (!status["conditions"].is_array())
      return MakeError(Code::kInvalidArgument, "status.conditions", "not a list");
    for (const auto& cj : status["conditions"]) {
      if (!cj.is_object())
        return MakeError(Code::kInvalidArgument, "status.conditions", "not a list of objects");
      Condition cond;
      cond.type = CPR_TRY(Str(cj, "type", "status.conditions[]."));
      cond.status = CPR_TRY(Str(cj, "status", "status.conditions[]."));
      cond.reason = CPR_TRY(Str(cj, "reason", "status.conditions[]."));
      cond.message = CPR_TRY(Str(cj, "message", "status.conditions[]."));
      cond.last_update_time = CPR_TRY(Str(cj, "lastUpdateTime", "status.conditions[]."));
      cond.last_transition_time = CPR_TRY(Str(cj, "lastTransitionTime", "status.conditions[]."));
      c.conditions.push_back(cond);
    }
  }
  const std::string cert = CPR_TRY(Str(status, "certificate", "status."));
  auto cert_pem = Base64Decode(cert);
  if (!cert_pem) return MakeError(Code::kInvalidArgument, "status.certificate", "not base64");
  c.certificate = *cert_pem;
  return c;
}

Result<Csr> DecodeCsrBody(const std::string& content_type, std::string_view body) {
  if (content_type.starts_with("application/vnd.kubernetes.protobuf"))
    return CsrFromProtobuf(Bytes(body.data(), body.size()));
  if (!content_type.empty() && !content_type.starts_with("application/json") &&
      !content_type.starts_with("application/yaml") &&
      content_type.find("json") == std::string::npos)
    return MakeError(Code::kInvalidArgument, "Content-Type",
                     fmt::format("'{}' is not supported", content_type.substr(0, 100)));
  return CsrFromJson(body);
}

Json StatusJson(int code, const std::string& reason, const std::string& message,
                const Json& details) {
  Json j{{"kind", "Status"},
         {"apiVersion", "v1"},
         {"metadata", Json::object()},
         {"status", code < 400 ? "Success" : "Failure"}};
  if (!message.empty()) j["message"] = message;
  if (!reason.empty()) j["reason"] = reason;
  if (!details.is_null()) j["details"] = details;
  j["code"] = code;
  return j;
}

}  // namespace cpr::recovery
