#include "k8s/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <cctype>

#include "util/atomic_file.h"
#include "util/text.h"

namespace cpr::k8s {

std::string RenderKubeconfig(const Kubeconfig& c) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "apiVersion" << YAML::Value << "v1";
  e << YAML::Key << "kind" << YAML::Value << "Config";
  e << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << c.name;
  e << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "server" << YAML::Value << c.server;
  e << YAML::Key << "certificate-authority-data" << YAML::Value << Base64Encode(c.ca_pem);
  e << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  e << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << c.user;
  e << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
  if (!c.token.empty()) e << YAML::Key << "token" << YAML::Value << c.token;
  if (!c.client_cert_pem.empty()) {
    e << YAML::Key << "client-certificate-data" << YAML::Value << Base64Encode(c.client_cert_pem);
    e << YAML::Key << "client-key-data" << YAML::Value << Base64Encode(c.client_key_pem);
  }
  e << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  e << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << c.name;
  e << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "cluster" << YAML::Value << c.name;
  e << YAML::Key << "user" << YAML::Value << c.user;
  e << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  e << YAML::Key << "current-context" << YAML::Value << c.name;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

namespace {

// `node[data_key]` decoded, or the file `node[file_key]` names (relative to
// the kubeconfig's directory); "" when neither is set.
Result<std::string> DataOrFile(const YAML::Node& node, const char* data_key, const char* file_key,
                               const std::string& dir, const std::string& where) {
  if (node[data_key]) {
    auto d = Base64Decode(node[data_key].as<std::string>());
    if (!d)
      return MakeError(Code::kInvalidArgument, where, std::string(data_key) + " is not base64");
    return *d;
  }
  if (node[file_key]) {
    std::string p = node[file_key].as<std::string>();
    if (!p.starts_with("/")) p = dir + "/" + p;
    return ReadFileLimited(p, 1 << 20);
  }
  return std::string();
}

YAML::Node Named(const YAML::Node& list, const std::string& name, const char* inner) {
  if (!list || !list.IsSequence() || list.size() == 0) return YAML::Node();
  for (const auto& item : list)
    if (item["name"] && item["name"].as<std::string>() == name) return item[inner];
  return list[0][inner];
}

}  // namespace

Result<Kubeconfig> LoadKubeconfig(const std::string& path) {
  const std::string text = CPR_TRY(ReadFileLimited(path, 4 << 20));
  const std::string dir = DirName(path);
  Kubeconfig c;
  try {
    YAML::Node doc = YAML::Load(text);
    std::string ctx_name = doc["current-context"] ? doc["current-context"].as<std::string>() : "";
    YAML::Node ctx = Named(doc["contexts"], ctx_name, "context");
    const std::string cluster_name = ctx && ctx["cluster"] ? ctx["cluster"].as<std::string>() : "";
    const std::string user_name = ctx && ctx["user"] ? ctx["user"].as<std::string>() : "";
    YAML::Node cluster = Named(doc["clusters"], cluster_name, "cluster");
    YAML::Node user = Named(doc["users"], user_name, "user");
    if (!cluster || !cluster["server"])
      return MakeError(Code::kInvalidArgument, path, "no cluster with a server");
    c.server = cluster["server"].as<std::string>();
    c.ca_pem = CPR_TRY(
        DataOrFile(cluster, "certificate-authority-data", "certificate-authority", dir, path));
    if (user) {
      if (user["token"]) c.token = user["token"].as<std::string>();
      if (c.token.empty() && user["tokenFile"]) {
        std::string p = user["tokenFile"].as<std::string>();
        c.token = CPR_TRY(ReadFileLimited(p.starts_with("/") ? p : dir + "/" + p, 4096));
        while (!c.token.empty() && std::isspace(static_cast<unsigned char>(c.token.back())))
          c.token.pop_back();
      }
      c.client_cert_pem =
          CPR_TRY(DataOrFile(user, "client-certificate-data", "client-certificate", dir, path));
      c.client_key_pem = CPR_TRY(DataOrFile(user, "client-key-data", "client-key", dir, path));
    }
    if (!user_name.empty()) c.user = user_name;
  } catch (const YAML::Exception& e) {
    return MakeError(Code::kInvalidArgument, path, std::string("not a kubeconfig: ") + e.what());
  }
  return c;
}

}  // namespace cpr::k8s
