#include "signer/token_store.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/file_lock.h"
#include "util/hash.h"

namespace cpr::signer {
namespace {

using Json = nlohmann::json;

std::mutex g_store_mutex;  // threads of one process; flock covers processes

std::string Base64Url(const unsigned char* p, size_t n) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

Json ToJson(const TokenRecord& r) {
  return Json{{"id", r.id},
              {"hash", r.hash},
              {"host", r.host},
              {"ips", r.ips},
              {"profile", r.profile},
              {"created", r.created},
              {"expires", r.expires},
              {"state", r.state},
              {"spentAt", r.spent_at},
              {"csrName", r.csr_name},
              {"usedProfiles", r.used_profiles}};
}

TokenRecord FromJson(const Json& j) {
  TokenRecord r;
  r.id = j.value("id", "");
  r.hash = j.value("hash", "");
  r.host = j.value("host", "");
  r.ips = j.value("ips", std::vector<std::string>{});
  r.profile = j.value("profile", "");
  r.created = j.value("created", int64_t{0});
  r.expires = j.value("expires", int64_t{0});
  r.state = j.value("state", "revoked");
  r.spent_at = j.value("spentAt", int64_t{0});
  r.csr_name = j.value("csrName", "");
  r.used_profiles = j.value("usedProfiles", std::vector<std::string>{});
  return r;
}

}  // namespace

std::string TokenHash(const std::string& token) {
  return HexOf(Bytes(reinterpret_cast<const char*>(Sha256Of(token).data()), 32));
}

TokenRecord* FindToken(std::vector<TokenRecord>& records, const std::string& token) {
  const std::string h = TokenHash(token);
  TokenRecord* found = nullptr;
  for (auto& r : records)
    if (r.hash.size() == h.size() && CRYPTO_memcmp(r.hash.data(), h.data(), h.size()) == 0)
      found = &r;
  return found;
}

Result<void> CreateStateDir(const std::string& dir) {
  CPR_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    return MakeError(Code::kIo, dir, std::string("stat: ") + std::strerror(errno));
  if (st.st_mode & 077)
    return MakeError(
        Code::kFailedPrecondition, dir,
        fmt::format("the signer state dir is reachable by others (mode {:o})", st.st_mode & 0777),
        "chmod 700 it: it holds token hashes and the audit log");
  return {};
}

Result<void> TokenStore::Update(
    const std::function<Result<void>(std::vector<TokenRecord>&, bool& changed)>& fn) {
  std::lock_guard<std::mutex> guard(g_store_mutex);
  FileLock lock = CPR_TRY(FileLock::Acquire(dir_ + "/tokens.lock"));
  const std::string path = dir_ + "/tokens.json";
  std::vector<TokenRecord> records;
  auto text = ReadFileLimited(path, 16u << 20);
  if (text) {
    Json doc = Json::parse(*text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("tokens") ||
        !doc["tokens"].is_array())
      return MakeError(Code::kCorrupt, path, "not a CPR token file",
                       "move it aside; `cpr signer token` issues new tokens");
    try {
      for (const auto& j : doc["tokens"])
        if (j.is_object()) records.push_back(FromJson(j));
    } catch (const Json::exception& e) {
      return MakeError(Code::kCorrupt, path, std::string("bad token record: ") + e.what(),
                       "move it aside; `cpr signer token` issues new tokens");
    }
  } else if (text.error().code != Code::kNotFound) {
    return std::move(text).error();
  }
  bool changed = false;
  CPR_RETURN_IF_ERROR(fn(records, changed));
  if (!changed) return {};
  Json doc{{"tokens", Json::array()}};
  for (const auto& r : records) doc["tokens"].push_back(ToJson(r));
  return WriteFileAtomic(path, doc.dump(1) + "\n", 0600);
}

Result<IssuedToken> TokenStore::Issue(const std::string& host, const std::vector<std::string>& ips,
                                      const std::string& profile, int64_t now, int64_t expires) {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1)
    return MakeError(Code::kInternal, "token", "the CSPRNG failed");
  IssuedToken out;
  out.token = "cprt_" + Base64Url(raw, sizeof raw);
  OPENSSL_cleanse(raw, sizeof raw);
  TokenRecord& r = out.record;
  r.hash = TokenHash(out.token);
  r.id = r.hash.substr(0, 12);
  r.host = host;
  r.ips = ips;
  r.profile = profile;
  r.created = now;
  r.expires = expires;
  CPR_RETURN_IF_ERROR(Update([&](std::vector<TokenRecord>& records, bool& changed) -> Result<void> {
    // Old records are kept for the audit trail, but not forever.
    std::erase_if(records, [&](const TokenRecord& t) {
      return t.state != "unspent" && t.expires + 7 * 86400 < now;
    });
    records.push_back(r);
    changed = true;
    return {};
  }));
  return out;
}

Result<std::vector<TokenRecord>> TokenStore::List() {
  std::vector<TokenRecord> out;
  CPR_RETURN_IF_ERROR(Update([&](std::vector<TokenRecord>& records, bool&) -> Result<void> {
    out = records;
    return {};
  }));
  return out;
}

Result<int> TokenStore::RevokeUnspent(int64_t now) {
  int n = 0;
  CPR_RETURN_IF_ERROR(Update([&](std::vector<TokenRecord>& records, bool& changed) -> Result<void> {
    for (auto& r : records)
      if (r.state == "unspent") {
        r.state = "revoked";
        r.spent_at = now;
        n++;
        changed = true;
      }
    return {};
  }));
  return n;
}

}  // namespace cpr::signer
