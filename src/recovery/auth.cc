#include "recovery/auth.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/file_lock.h"
#include "util/hash.h"

namespace cpr::recovery {
namespace {

using Json = nlohmann::json;

bool LowerAlnum(const std::string& s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
         });
}

Result<std::string> RandomLowerAlnum(size_t n) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  while (out.size() < n) {
    unsigned char b[32];
    if (RAND_bytes(b, sizeof b) != 1)
      return MakeError(Code::kInternal, "RAND_bytes", "no randomness");
    for (unsigned char c : b)
      if (c < 252 && out.size() < n) out += kAlphabet[c % 36];  // 252 = 7*36: unbiased
  }
  return out;
}

std::string SecretHash(const std::string& secret) {
  const Sha256Digest d = Sha256Of(secret);
  return HexOf(Bytes(reinterpret_cast<const char*>(d.data()), d.size()));
}

}  // namespace

bool Identity::InGroup(const std::string& g) const {
  return std::find(groups.begin(), groups.end(), g) != groups.end();
}

Result<std::vector<BootstrapToken>> LoadBootstrapTokens(const std::string& path) {
  std::vector<BootstrapToken> out;
  if (::access(path.c_str(), F_OK) != 0) return out;
  auto text = ReadFileLimited(path, 4 << 20);
  if (!text) return std::move(text).error();
  Json j = Json::parse(*text, nullptr, false);
  if (!j.is_array()) return MakeError(Code::kCorrupt, path, "not a JSON list");
  try {
    for (const auto& t : j)
      out.push_back({t.at("id").get<std::string>(), t.at("secretSha256").get<std::string>(),
                     t.at("node").get<std::string>(), t.at("created").get<int64_t>(),
                     t.at("expires").get<int64_t>()});
  } catch (const Json::exception& e) {
    return MakeError(Code::kCorrupt, path, e.what());
  }
  return out;
}

Result<std::string> IssueBootstrapToken(const std::string& path, const std::string& node,
                                        int64_t ttl, int64_t now) {
  if (ttl <= 0) return MakeError(Code::kInvalidArgument, "--token-ttl", "must be positive");
  FileLock lock = CPR_TRY(FileLock::Acquire(path + ".lock"));
  auto tokens = CPR_TRY(LoadBootstrapTokens(path));
  std::string id;
  do {
    id = CPR_TRY(RandomLowerAlnum(6));
  } while (FindTokenById(tokens, id));
  const std::string secret = CPR_TRY(RandomLowerAlnum(16));
  Json all = Json::array();
  for (const auto& t : tokens)
    if (t.expires > now)  // expired ones go
      all.push_back({{"id", t.id},
                     {"secretSha256", t.secret_sha256},
                     {"node", t.node},
                     {"created", t.created},
                     {"expires", t.expires}});
  all.push_back({{"id", id},
                 {"secretSha256", SecretHash(secret)},
                 {"node", node},
                 {"created", now},
                 {"expires", now + ttl}});
  CPR_RETURN_IF_ERROR(WriteFileAtomic(path, all.dump(1) + "\n", 0600));
  return id + "." + secret;
}

const BootstrapToken* FindTokenById(const std::vector<BootstrapToken>& tokens,
                                    const std::string& id) {
  for (const auto& t : tokens)
    if (t.id == id) return &t;
  return nullptr;
}

AuthOutcome Authenticate(const std::vector<pki::Certificate>& client_chain,
                         const std::string& authorization,
                         const std::vector<BootstrapToken>& tokens, int64_t now) {
  AuthOutcome out;
  if (!authorization.empty()) {
    if (!authorization.starts_with("Bearer ")) {
      out.failure = "unsupported Authorization scheme";
      return out;
    }
    const std::string token = authorization.substr(7);
    const size_t dot = token.find('.');
    const std::string id = dot == std::string::npos ? "" : token.substr(0, dot);
    const std::string secret = dot == std::string::npos ? "" : token.substr(dot + 1);
    if (!LowerAlnum(id, 6) || !LowerAlnum(secret, 16)) {
      out.failure = "bearer token is not a bootstrap token";
      return out;
    }
    const BootstrapToken* t = FindTokenById(tokens, id);
    const std::string hash = SecretHash(secret);
    if (!t || t->secret_sha256.size() != hash.size() ||
        CRYPTO_memcmp(t->secret_sha256.data(), hash.data(), hash.size()) != 0) {
      out.failure = fmt::format("unknown bootstrap token id={}", id);
      return out;
    }
    if (now >= t->expires) {
      out.failure = fmt::format("bootstrap token id={} expired", id);
      return out;
    }
    out.authenticated = true;
    out.identity.user = kBootstrapUserPrefix + id;
    out.identity.groups = {"system:bootstrappers", "system:authenticated"};
    return out;
  }
  if (!client_chain.empty()) {
    const pki::Name subject = client_chain.front().Info().subject;
    if (!subject.CommonName().empty()) {
      out.authenticated = true;
      out.identity.user = subject.CommonName();
      out.identity.groups = subject.Organizations();
      out.identity.groups.push_back("system:authenticated");
      return out;
    }
  }
  out.failure = "no credentials";
  return out;
}

}  // namespace cpr::recovery
