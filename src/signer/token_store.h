// One-time enrollment tokens of the temporary signer (the tokenize-signer.sh
// analog, openshift-dr.md §1.4), kept hashed in the signer's state dir.
//
// A token is 32 bytes from OpenSSL's CSPRNG, printed base64url with a
// "cprt_" prefix. The state dir keeps only its SHA-256, with what it is
// bound to: one host name, that host's IPs, one profile, an expiry. The first
// signature spends it; `signer stop` revokes every unspent one. Logs name a
// token by its id (the first 12 hex digits of the hash), never by its value.
//
// Storage: <state>/tokens.json (0600), rewritten atomically under an
// exclusive flock on <state>/tokens.lock, so the serving process and `cpr
// signer token|stop` (other processes) never lose each other's updates, and
// two requests racing with one token spend it exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::signer {

struct TokenRecord {
  std::string id;    // first 12 hex digits of hash (for logs)
  std::string hash;  // hex SHA-256 of the token text
  std::string host;
  std::vector<std::string> ips;
  std::string profile;  // "peer", "server", "metrics", or "member": one of each of those three
  int64_t created = 0, expires = 0;
  std::string state = "unspent";  // "unspent", "spent", "revoked"
  int64_t spent_at = 0;
  std::string csr_name;  // the request that spent it
  // A "member" token: the profiles it has been used for (spent once all three are).
  std::vector<std::string> used_profiles;
};

// The profile name of a token that obtains one certificate of each of peer,
// server and metrics (`cpr member recover` on a new master).
inline constexpr const char* kMemberProfile = "member";

struct IssuedToken {
  std::string token;  // the secret: printed once, never stored
  TokenRecord record;
};

// The hex SHA-256 of a token's text.
std::string TokenHash(const std::string& token);

class TokenStore {
 public:
  // REQUIRES: `state_dir` exists (CreateStateDir).
  explicit TokenStore(std::string state_dir) : dir_(std::move(state_dir)) {}

  Result<IssuedToken> Issue(const std::string& host, const std::vector<std::string>& ips,
                            const std::string& profile, int64_t now, int64_t expires);

  // Runs `fn` on the records under the lock; writes them back when `fn` sets
  // `changed`. What `fn` returns is returned (its error leaves the file as it was).
  Result<void> Update(
      const std::function<Result<void>(std::vector<TokenRecord>&, bool& changed)>& fn);

  // Every record (a snapshot, under the lock).
  Result<std::vector<TokenRecord>> List();

  // Marks every unspent token revoked; returns how many.
  Result<int> RevokeUnspent(int64_t now);

 private:
  std::string dir_;
};

// Finds the record for `token` (by hash, constant-time compare); null if none.
TokenRecord* FindToken(std::vector<TokenRecord>& records, const std::string& token);

// Creates the state dir (0700) or checks an existing one is a directory that
// only its owner can reach; refuses a group/other-accessible one.
Result<void> CreateStateDir(const std::string& dir);

}  // namespace cpr::signer
