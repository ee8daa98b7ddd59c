#include "recovery/discovery.h"

namespace cpr::recovery {
namespace {

Json GroupVersion(const std::string& v) {
  return Json{{"groupVersion", std::string(kGroup) + "/" + v}, {"version", v}};
}

Json Group() {
  return Json{{"name", kGroup},
              {"versions", Json::array({GroupVersion("v1"), GroupVersion("v1beta1")})},
              {"preferredVersion", GroupVersion("v1")}};
}

}  // namespace

Json ApiGroupList() {
  return Json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", Json::array({Group()})}};
}

Json ApiGroup() {
  Json g = Group();
  Json out{{"kind", "APIGroup"}, {"apiVersion", "v1"}};
  for (auto& [k, v] : g.items()) out[k] = v;
  return out;
}

Json ApiResourceList(const std::string& version) {
  auto resource = [](const std::string& name, Json verbs) {
    return Json{
        {"name", name},
        {"singularName", name.find('/') == std::string::npos ? "certificatesigningrequest" : ""},
        {"namespaced", false},
        {"kind", "CertificateSigningRequest"},
        {"verbs", std::move(verbs)}};
  };
  Json main = resource("certificatesigningrequests",
                       Json::array({"create", "delete", "get", "list", "update", "watch"}));
  main["shortNames"] = Json::array({"csr"});
  return Json{
      {"kind", "APIResourceList"},
      {"apiVersion", "v1"},
      {"groupVersion", std::string(kGroup) + "/" + version},
      {"resources",
       Json::array(
           {main, resource("certificatesigningrequests/approval", Json::array({"get", "update"})),
            resource("certificatesigningrequests/status", Json::array({"get", "update"}))})}};
}

Json VersionInfo() {
  return Json{{"major", "1"},    {"minor", "20"},           {"gitVersion", "v1.20.0-cpr"},
              {"gitCommit", ""}, {"gitTreeState", "clean"}, {"buildDate", ""},
              {"goVersion", ""}, {"compiler", "cpr"},       {"platform", "linux/amd64"}};
}

Json CsrTable(const std::vector<Csr>& csrs, int64_t list_version, const std::string& version,
              const std::string& include_object, int64_t now) {
  Json table{{"kind", "Table"},
             {"apiVersion", "meta.k8s.io/v1"},
             {"metadata", {{"resourceVersion", std::to_string(list_version)}}}};
  {
    Json cols = Json::array();
    const char* names[][2] = {
        {"Name", "name"}, {"Age", ""}, {"SignerName", ""}, {"Requestor", ""}, {"Condition", ""}};
    for (const auto& [n, format] : names)
      cols.push_back({{"name", n},
                      {"type", "string"},
                      {"format", format},
                      {"description", n},
                      {"priority", 0}});
    table["columnDefinitions"] = cols;
  }
  Json rows = Json::array();
  for (const auto& c : csrs) {
    const auto created = ParseRfc3339(c.creation_timestamp);
    Json row{{"cells",
              {c.name, created ? ShortAge(now - *created) : "<unknown>",
               c.signer_name.empty() ? "<none>" : c.signer_name, c.username, ConditionText(c)}}};
    if (include_object == "Object") {
      row["object"] = CsrToJson(c, version);
    } else if (include_object != "None") {
      row["object"] = Json{{"kind", "PartialObjectMetadata"},
                           {"apiVersion", "meta.k8s.io/v1"},
                           {"metadata", CsrToJson(c, version)["metadata"]}};
    }
    rows.push_back(row);
  }
  table["rows"] = rows;
  return table;
}

}  // namespace cpr::recovery
