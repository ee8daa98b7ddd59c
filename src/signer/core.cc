#include "signer/core.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>

#include "https/status.h"
#include "pki/issue.h"
#include "pki/lifetime.h"
#include "util/atomic_file.h"
#include "util/text.h"

namespace cpr::signer {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kApiVersion = "certificates.k8s.io/v1beta1";

// metadata.name: a DNS subdomain-like name (':' allowed, as kube-client-agent
// names requests after the CN).
bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 253) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':'))
      return false;
  return std::isalnum(static_cast<unsigned char>(n.front())) &&
         std::isalnum(static_cast<unsigned char>(n.back()));
}

// spec.expirationSeconds: Kubernetes' int32, a whole number of seconds.
// Range-checked while still a JSON number: a float like 1e300 or an integer
// past int64 must never reach a conversion (undefined behaviour).
std::optional<int64_t> ExpirationSeconds(const Json& v, std::string* why) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(kMax)) return static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i >= 0 && i <= kMax) return i;
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d >= 0 && d <= static_cast<double>(kMax) && d == std::floor(d))
      return static_cast<int64_t>(d);
  } else {
    *why = "spec.expirationSeconds must be a number";
    return std::nullopt;
  }
  *why = fmt::format("spec.expirationSeconds {} is not a whole number of seconds in 0..{}",
                     v.dump().substr(0, 40), kMax);
  return std::nullopt;
}

}  // namespace

std::string LogValue(std::string_view v) {
  std::string out;
  for (char c : v.substr(0, 200)) out.push_back(c >= 0x20 && c < 0x7f && c != '"' ? c : '?');
  if (v.size() > 200) out += "...";
  if (out.empty() || out.find(' ') != std::string::npos) out = "\"" + out + "\"";
  return out;
}

void AuditLog::Write(const std::string& line) {
  const std::string text = pki::FormatTimeUtc(std::time(nullptr)) + " " + tag_ + ": " + line + "\n";
  std::lock_guard<std::mutex> g(mu_);
  if (to_stderr_) std::cerr << text << std::flush;
  if (path_.empty()) return;
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  [[maybe_unused]] ssize_t n = ::write(fd, text.data(), text.size());
  ::fsync(fd);
  ::close(fd);
}

int JsonDepth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') max_depth = std::max(max_depth, ++depth);
    if (c == ']' || c == '}') depth--;
  }
  return max_depth;
}

SignerCore::SignerCore(SigningCas cas, std::string state_dir, PolicyConfig policy, AuditLog* log)
    : now([] { return static_cast<int64_t>(std::time(nullptr)); }),
      cas_(std::move(cas)),
      state_dir_(std::move(state_dir)),
      store_(state_dir_),
      policy_(std::move(policy)),
      log_(log) {}

SignerCore::Response SignerCore::Refuse(int status, const std::string& reason,
                                        const std::string& token_id, const std::string& host,
                                        const std::string& remote) {
  if (log_)
    log_->Write(fmt::format("refused status={} token={} host={} from={} reason={}", status,
                            LogValue(token_id), LogValue(host), LogValue(remote),
                            LogValue(reason)));
  return {status, https::StatusJson(status, reason)};
}

std::optional<SignerCore::Response> SignerCore::CheckToken(const std::string& authorization,
                                                           std::string* reason) {
  const std::string token = BearerToken(authorization);
  if (token.empty()) {
    *reason = "no bearer token (Authorization: Bearer <token>)";
    return Response{401, https::StatusJson(401, *reason)};
  }
  auto records = store_.List();
  if (!records) {
    *reason = "token store: " + records.error().ToString();
    return Response{500, https::StatusJson(500, "the token store cannot be read")};
  }
  const TokenRecord* rec = FindToken(*records, token);
  if (auto problem = TokenProblem(rec, now())) {
    *reason = *problem;
    const int status = rec ? 403 : 401;
    return Response{status, https::StatusJson(status, *reason)};
  }
  return std::nullopt;
}

bool SignerCore::KnowsToken(const std::string& authorization) {
  const std::string token = BearerToken(authorization);
  if (token.empty()) return false;
  auto records = store_.List();
  return records && FindToken(*records, token) != nullptr;
}

SignerCore::Response SignerCore::Create(const std::string& authorization,
                                        const std::string& content_type, const std::string& body,
                                        const std::string& remote) {
  const std::string token = BearerToken(authorization);
  // The token first: nothing of the body is parsed for a caller without one.
  std::string why;
  if (auto refused = CheckToken(authorization, &why))
    return Refuse(refused->status, why, token.empty() ? "none" : "unchecked", "", remote);
  if (!content_type.starts_with("application/json"))
    return Refuse(415, "content type must be application/json", "unchecked", "", remote);
  if (body.size() > kMaxRequestBytes)
    return Refuse(413, "request too large", "unchecked", "", remote);
  if (JsonDepth(body) > 32) return Refuse(400, "JSON nested too deeply", "unchecked", "", remote);
  Json doc = Json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Refuse(400, "the body is not a JSON object", "unchecked", "", remote);

  // The CertificateSigningRequest object.
  std::string name, request_b64;
  RequestedExtras extras;
  std::string bad_expiration;
  try {
    if (doc.value("kind", "") != "CertificateSigningRequest")
      return Refuse(400, "kind must be CertificateSigningRequest", "unchecked", "", remote);
    name = doc.at("metadata").at("name").get<std::string>();
    const Json& spec = doc.at("spec");
    request_b64 = spec.at("request").get<std::string>();
    if (spec.contains("usages"))
      for (const auto& u : spec.at("usages")) extras.usages.push_back(u.get<std::string>());
    if (spec.contains("expirationSeconds") && !spec.at("expirationSeconds").is_null()) {
      extras.expiration_seconds = ExpirationSeconds(spec.at("expirationSeconds"), &bad_expiration);
      if (!extras.expiration_seconds) return Refuse(400, bad_expiration, "unchecked", "", remote);
    }
  } catch (const Json::exception&) {
    return Refuse(400, "not a CertificateSigningRequest (metadata.name, spec.request)", "unchecked",
                  "", remote);
  }
  if (!ValidName(name))
    return Refuse(400, "metadata.name must be lower-case letters, digits, '-', '.', ':'",
                  "unchecked", "", remote);
  auto pem = Base64Decode(request_b64);
  if (!pem) return Refuse(400, "spec.request is not base64", "unchecked", "", remote);
  auto csr = pki::CertRequest::FromPem(*pem, "spec.request");
  if (!csr) return Refuse(400, csr.error().what, "unchecked", "", remote);

  // Decide and spend under the token store's lock: one signature per token.
  int status = 403;
  std::string reason, token_id = "unknown", host;
  std::optional<pki::Certificate> cert;
  std::string profile_name;
  const int64_t t = now();
  auto r = store_.Update([&](std::vector<TokenRecord>& records, bool& changed) -> Result<void> {
    TokenRecord* rec = FindToken(records, token);
    if (rec) {
      token_id = rec->id;
      host = rec->host;
    }
    if (auto problem = TokenProblem(rec, t)) {
      status = rec ? 403 : 401;
      reason = *problem;
      return MakeError(Code::kFailedPrecondition, "token", reason);
    }
    auto plan = Evaluate(*rec, *csr, extras, policy_, t);
    if (!plan) {
      reason = plan.error().what;
      status = plan.error().code == Code::kFailedPrecondition ? 403 : 400;
      return std::move(plan).error();
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      if (issued_.count(name)) {
        status = 409;
        reason = "a request named " + name + " already exists";
        return MakeError(Code::kFailedPrecondition, "name", reason);
      }
    }
    const bool metrics = plan->profile == pki::Profile::kMetrics;
    if (metrics && !cas_.metric_ca) {
      reason = "no metrics CA is loaded: cannot sign the metrics profile";
      return MakeError(Code::kFailedPrecondition, "ca", reason);
    }
    const pki::Certificate& ca = metrics ? *cas_.metric_ca : cas_.ca;
    const pki::PrivateKey& ca_key = metrics ? *cas_.metric_key : cas_.ca_key;
    // Never outlive the CA.
    plan->spec.not_after = std::min(plan->spec.not_after, ca.Info().not_after);
    auto issued = pki::IssueSigned(plan->spec, csr->public_key(), ca, ca_key);
    if (!issued) {
      status = 500;
      reason = "signing failed: " + issued.error().what;
      return std::move(issued).error();
    }
    cert = *issued;
    profile_name = pki::GetProfile(plan->profile).name;
    if (rec->profile == kMemberProfile) {
      // One certificate of each profile; the token is spent with the third.
      rec->used_profiles.push_back(profile_name);
      if (rec->used_profiles.size() < 3) {
        changed = true;
        return {};
      }
    }
    rec->state = "spent";
    rec->spent_at = t;
    rec->csr_name = name;
    changed = true;
    return {};
  });
  if (!r) {
    if (reason.empty()) {
      status = 500;
      reason = r.error().ToString();
    }
    return Refuse(status, reason, token_id, host, remote);
  }

  const pki::CertInfo info = cert->Info();
  const std::string pem_out = cert->ToPem();
  Json obj{
      {"apiVersion", kApiVersion},
      {"kind", "CertificateSigningRequest"},
      {"metadata", {{"name", name}, {"creationTimestamp", pki::FormatTimeUtc(t)}}},
      {"spec",
       {{"request", request_b64}, {"usages", extras.usages}, {"username", "token:" + token_id}}},
      {"status",
       {{"conditions", Json::array({{{"type", "Approved"},
                                     {"reason", "CPRSignerPolicy"},
                                     {"message", "token " + token_id + " for host " + host},
                                     {"lastUpdateTime", pki::FormatTimeUtc(t)}}})},
        {"certificate", Base64Encode(pem_out)}}}};
  std::string object = obj.dump(-1, ' ', true, Json::error_handler_t::replace);
  {
    std::lock_guard<std::mutex> g(mu_);
    issued_[name] = {TokenHash(token), object};
  }
  // The issued certificate, for the record (not secret).
  const std::string dir = state_dir_ + "/issued";
  if (MakeDirs(dir, 0700))
    (void)WriteFileAtomic(dir + "/" + token_id + "-" + profile_name + ".crt", pem_out, 0644);
  if (log_)
    log_->Write(fmt::format(
        "issued csr={} token={} host={} profile={} subject={} dns={} ip={} serial={} "
        "not-after={} from={}",
        LogValue(name), token_id, LogValue(host), profile_name, LogValue(info.subject.ToString()),
        LogValue(fmt::format("{}", fmt::join(info.dns_names, ","))),
        LogValue(fmt::format("{}", fmt::join(info.ip_addresses, ","))), info.serial_hex,
        pki::FormatTimeUtc(info.not_after), LogValue(remote)));
  return {201, object};
}

SignerCore::Response SignerCore::Get(const std::string& name, const std::string& authorization,
                                     const std::string& remote) {
  const std::string token = BearerToken(authorization);
  if (token.empty())
    return Refuse(401, "no bearer token (Authorization: Bearer <token>)", "none", "", remote);
  const std::string h = TokenHash(token);
  std::lock_guard<std::mutex> g(mu_);
  auto it = issued_.find(name);
  // Unknown name and someone else's request look the same.
  if (it == issued_.end() || it->second.token_hash != h) {
    if (log_)
      log_->Write(
          fmt::format("refused status=404 get csr={} from={}", LogValue(name), LogValue(remote)));
    return {404, https::StatusJson(404, "certificatesigningrequests \"" + name + "\" not found")};
  }
  return {200, it->second.object};
}

}  // namespace cpr::signer
