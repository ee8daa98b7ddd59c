#include "signer/ca_source.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include "etcd/backend.h"
#include "etcd/mvcc.h"
#include "k8s/secret.h"
#include "pki/etcd_pki.h"
#include "util/atomic_file.h"
#include "util/text.h"

namespace cpr::signer {
namespace {

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

Result<std::pair<pki::Certificate, pki::PrivateKey>> LoadPair(const std::string& crt,
                                                              const std::string& key) {
  auto certs = CPR_TRY(pki::ReadCertificates(crt));
  pki::PrivateKey k = CPR_TRY(pki::ReadPrivateKey(key));
  if (!certs[0].MatchesKey(k))
    return MakeError(Code::kFailedPrecondition, key, "does not match " + crt);
  if (!certs[0].Info().is_ca)
    return MakeError(Code::kFailedPrecondition, crt, "is not a CA certificate");
  return std::make_pair(certs[0], k);
}

Result<pki::CaPair> PairFromSecret(const k8s::SecretData& s, const std::string& where) {
  auto crt = s.data.find("tls.crt");
  auto key = s.data.find("tls.key");
  if (crt == s.data.end() || key == s.data.end())
    return MakeError(Code::kNotFound, where, "the Secret has no tls.crt/tls.key");
  auto cert = CPR_TRY(pki::Certificate::FromPem(crt->second, where + " tls.crt"));
  auto k = CPR_TRY(pki::PrivateKey::FromPem(key->second, where + " tls.key"));
  if (!cert.MatchesKey(k))
    return MakeError(Code::kCorrupt, where, "tls.key does not match tls.crt");
  if (!cert.Info().is_ca)
    return MakeError(Code::kCorrupt, where, "tls.crt is not a CA certificate");
  return pki::CaPair{cert, k};
}

// The keys of an EncryptionConfiguration (apiserver.config.k8s.io/v1) that
// apply to secrets, in provider order.
Result<std::vector<k8s::EncryptionKey>> LoadEncryptionConfig(const std::string& path) {
  std::string text = CPR_TRY(ReadFileLimited(path, 1u << 20));
  std::vector<k8s::EncryptionKey> keys;
  try {
    YAML::Node doc = YAML::Load(text);
    if (!doc["resources"] || !doc["resources"].IsSequence())
      return MakeError(Code::kInvalidArgument, path,
                       "not an EncryptionConfiguration (no resources list)");
    for (const auto& res : doc["resources"]) {
      bool secrets = false;
      for (const auto& r : res["resources"])
        if (r.as<std::string>() == "secrets" || r.as<std::string>() == "*.*") secrets = true;
      if (!secrets) continue;
      for (const auto& prov : res["providers"]) {
        for (const char* name : {"aescbc", "aesgcm", "secretbox"}) {
          if (!prov[name]) continue;
          for (const auto& k : prov[name]["keys"]) {
            auto secret = Base64Decode(k["secret"].as<std::string>());
            if (!secret)
              return MakeError(Code::kInvalidArgument, path,
                               fmt::format("{} key '{}': secret is not base64", name,
                                           k["name"].as<std::string>()));
            keys.push_back({name, k["name"].as<std::string>(), *secret});
          }
        }
      }
    }
  } catch (const YAML::Exception& e) {
    return MakeError(Code::kInvalidArgument, path, std::string("cannot read: ") + e.what());
  }
  return keys;
}

}  // namespace

Result<SigningCas> LoadCasFromDir(const std::string& dir) {
  const pki::EtcdPkiPaths paths{dir};
  auto [ca, key] = CPR_TRY(LoadPair(paths.CaCert(), paths.CaKey()));
  SigningCas out{ca, key, std::nullopt, std::nullopt, "pki dir " + dir};
  if (Exists(paths.MetricCaCert()) || Exists(paths.MetricCaKey())) {
    auto [mca, mkey] = CPR_TRY(LoadPair(paths.MetricCaCert(), paths.MetricCaKey()));
    out.metric_ca = mca;
    out.metric_key = mkey;
  }
  return out;
}

Result<std::optional<pki::CaPair>> LoadCaPairFromSnapshot(const std::string& snapshot,
                                                          const std::string& encryption_config,
                                                          const std::string& ns,
                                                          const std::string& name) {
  std::vector<k8s::EncryptionKey> keys;
  if (!encryption_config.empty()) keys = CPR_TRY(LoadEncryptionConfig(encryption_config));
  auto backend = CPR_TRY(etcd::Backend::Open(snapshot));
  const int64_t rev = CPR_TRY(etcd::ResolveRevision(*backend, 0));
  // OpenShift's kube-apiserver stores under /kubernetes.io, upstream under /registry.
  for (const char* prefix : {"/kubernetes.io", "/registry"}) {
    const std::string key = fmt::format("{}/secrets/{}/{}", prefix, ns, name);
    auto rec = CPR_TRY(etcd::GetKey(*backend, key, rev));
    if (!rec) continue;
    auto plain = k8s::DecryptValue(rec->kv.value, key, keys);
    if (!plain) return std::move(plain).error().Within(snapshot);
    auto s = k8s::DecodeSecret(*plain);
    if (!s) return MakeError(Code::kCorrupt, snapshot + " " + key, "not a readable v1 Secret");
    return std::optional<pki::CaPair>(
        CPR_TRY(PairFromSecret(*s, fmt::format("{} {}/{}", snapshot, ns, name))));
  }
  return std::optional<pki::CaPair>();
}

Result<SigningCas> LoadCasFromSnapshot(const std::string& snapshot,
                                       const std::string& encryption_config) {
  auto signer = CPR_TRY(
      LoadCaPairFromSnapshot(snapshot, encryption_config, "openshift-config", "etcd-signer"));
  if (!signer)
    return MakeError(Code::kNotFound, snapshot,
                     "no openshift-config/etcd-signer Secret (under /kubernetes.io or /registry)",
                     "use --pki with the CA files instead");
  SigningCas out{signer->cert, signer->key, std::nullopt, std::nullopt,
                 "snapshot " + snapshot + " (openshift-config/etcd-signer)"};
  auto metric = CPR_TRY(LoadCaPairFromSnapshot(snapshot, encryption_config, "openshift-config",
                                               "etcd-metric-signer"));
  if (metric) {
    out.metric_ca = metric->cert;
    out.metric_key = metric->key;
    out.source += " + etcd-metric-signer";
  }
  return out;
}

}  // namespace cpr::signer
