#include "recovery/api.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <set>

#include "https/request_head.h"
#include "k8s/text.h"
#include "pki/csr.h"
#include "pki/kube_pki.h"
#include "recovery/discovery.h"
#include "util/text.h"

namespace cpr::recovery {
namespace {

constexpr const char* kResource = "certificatesigningrequests";
const std::string kPrefix = "/apis/certificates.k8s.io/";

https::Response Reply(int status, const Json& doc) {
  https::Response r;
  r.status = status;
  r.body = doc.dump();
  return r;
}

https::Response Fail(int code, const std::string& reason, const std::string& message,
                     const Json& details = nullptr) {
  return Reply(code, StatusJson(code, reason, message, details));
}

Json Details(const std::string& name) {
  return Json{{"name", name}, {"group", kGroup}, {"kind", kResource}};
}

std::string Qualified(const std::string& name) {
  return fmt::format("{}.{} \"{}\"", kResource, kGroup, name);
}

https::Response NotFound(const std::string& name) {
  return Fail(404, "NotFound", Qualified(name) + " not found", Details(name));
}

https::Response Conflict(const std::string& name) {
  return Fail(409, "Conflict",
              fmt::format("Operation cannot be fulfilled on {}.{} \"{}\": the object has been "
                          "modified; please apply your changes to the latest version and try again",
                          kResource, kGroup, name),
              Details(name));
}

https::Response Invalid(const std::string& name, const std::string& field,
                        const std::string& message) {
  Json details{{"name", name},
               {"group", kGroup},
               {"kind", "CertificateSigningRequest"},
               {"causes", Json::array({{{"reason", "FieldValueInvalid"},
                                        {"message", "Invalid value: " + message},
                                        {"field", field}}})}};
  return Fail(422, "Invalid",
              fmt::format("CertificateSigningRequest.{} \"{}\" is invalid: {}: Invalid value: {}",
                          kGroup, name, field, message),
              details);
}

https::Response Forbidden(const std::string& user, const std::string& verb,
                          const std::string& name) {
  return Fail(403, "Forbidden",
              fmt::format("{} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group "
                          "\"{}\" at the cluster scope",
                          name.empty() ? std::string(kResource) + "." + kGroup : Qualified(name),
                          user, verb, kResource, kGroup),
              Details(name));
}

std::string RandomText(size_t n, const char* alphabet) {
  const size_t len = std::strlen(alphabet);
  std::string out;
  unsigned char b[64];
  RAND_bytes(b, sizeof b);
  for (size_t i = 0; out.size() < n && i < sizeof b; i++) out += alphabet[b[i] % len];
  return out;
}

std::string NewUid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  std::string h;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) h += '-';
    h += fmt::format("{:02x}", b[i]);
  }
  return h;
}

struct FieldSelector {
  struct Term {
    std::string field, value;
    bool equal = true;
  };
  std::vector<Term> terms;
  bool Matches(const Csr& c) const {
    for (const auto& t : terms) {
      const std::string& v = t.field == "metadata.name" ? c.name : c.signer_name;
      if ((v == t.value) != t.equal) return false;
    }
    return true;
  }
};

Result<FieldSelector> ParseFieldSelector(const std::string& text) {
  FieldSelector s;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string term = text.substr(start, end - start);
    start = end + 1;
    if (term.empty()) continue;
    FieldSelector::Term t;
    size_t op = term.find("!=");
    size_t skip = 2;
    if (op != std::string::npos) {
      t.equal = false;
    } else if ((op = term.find("==")) == std::string::npos) {
      op = term.find('=');
      skip = 1;
    }
    if (op == std::string::npos)
      return MakeError(Code::kInvalidArgument, "fieldSelector", "'" + term + "' has no operator");
    t.field = term.substr(0, op);
    t.value = term.substr(op + skip);
    if (t.field != "metadata.name" && t.field != "spec.signerName")
      return MakeError(Code::kInvalidArgument, "fieldSelector",
                       fmt::format("field label not supported: {}", t.field));
    s.terms.push_back(t);
  }
  return s;
}

// Validates the conditions of an approval against the stored ones and fills
// their timestamps (k8s-csr-api.md §6). The error is the 422 message.
std::optional<std::string> CheckConditions(std::vector<Condition>& next,
                                           const std::vector<Condition>& old,
                                           const std::string& now) {
  std::set<std::string> types;
  for (auto& c : next) {
    if (c.type.empty()) return "status.conditions: a condition has no type";
    if (!types.insert(c.type).second)
      return fmt::format("status.conditions: duplicate condition type {}", c.type);
    if (c.status.empty()) c.status = "True";
    if (c.status != "True" && c.status != "False" && c.status != "Unknown")
      return fmt::format("status.conditions[{}].status: {} is not True, False or Unknown", c.type,
                         c.status);
    if ((c.type == "Approved" || c.type == "Denied" || c.type == "Failed") && c.status != "True")
      return fmt::format("status.conditions[{}].status: only True is allowed", c.type);
    if (c.last_update_time.empty()) c.last_update_time = now;
    const auto prev = std::find_if(old.begin(), old.end(), [&](const Condition& o) {
      return o.type == c.type && o.status == c.status;
    });
    if (prev != old.end() && !prev->last_transition_time.empty())
      c.last_transition_time = prev->last_transition_time;
    else if (c.last_transition_time.empty())
      c.last_transition_time = now;
  }
  if (types.count("Approved") && types.count("Denied"))
    return "status.conditions: Approved and Denied conditions are mutually exclusive";
  for (const auto& o : old)
    if ((o.type == "Approved" || o.type == "Denied" || o.type == "Failed") && !types.count(o.type))
      return fmt::format("status.conditions: the {} condition may not be removed", o.type);
  return std::nullopt;
}

// "Approved=True, Failed=True": conditions for the log.
std::string ConditionsOf(const std::vector<Condition>& conditions) {
  std::string out;
  for (const auto& c : conditions) out += (out.empty() ? "" : ", ") + c.type + "=" + c.status;
  return out.empty() ? "none" : out;
}

// Store errors as HTTP answers.
https::Response StoreFailure(const Error& e, const std::string& name) {
  if (e.code == Code::kNotFound) return NotFound(name);
  if (e.code == Code::kFailedPrecondition) return Conflict(name);
  return Fail(500, "InternalError", "storing the object failed");
}

}  // namespace

struct Api::Call {
  const https::Request& req;
  std::multimap<std::string, std::string> query;  // decoded
  std::string version;                            // "v1", "v1beta1"; "" outside the group
  Identity who;
  bool table = false;

  std::string Header(std::string_view name) const { return req.head.Header(name); }
  std::string Query(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  }
  bool HasQuery(const std::string& name) const { return query.count(name) != 0; }
  std::string Remote() const { return req.peer ? req.peer->address : std::string("?"); }
  bool Master() const { return who.InGroup("system:masters"); }
  bool MayRequest() const {
    return Master() || who.InGroup("system:bootstrappers") || who.InGroup("system:nodes");
  }
};

Api::Api(Store* store, const Issuer* issuer, ApiConfig config, signer::AuditLog* log)
    : now([] { return static_cast<int64_t>(std::time(nullptr)); }),
      store_(store),
      issuer_(issuer),
      config_(std::move(config)),
      log_(log) {}

void Api::Shutdown() {
  stopping_ = true;
  store_->Shutdown();
}

std::string Api::PolicyVerdict(const Csr& csr, PolicyMode mode) {
  std::vector<BootstrapToken> tokens;
  if (auto t = LoadBootstrapTokens(config_.tokens_file)) tokens = *t;
  auto why = NodePolicyRefusal(csr, config_.inventory, tokens, store_->List(), now(), mode);
  return why ? *why : std::string();
}

// An approval asks for the operator override when its Approved condition has
// reason CPRPolicyOverride; it is granted to system:masters with a non-empty
// justification (the message). `refusal` says why an asked one is not.
Api::Override Api::OverrideOf(const Call& call, const std::vector<Condition>& conditions) {
  Override o;
  const auto approved = std::find_if(conditions.begin(), conditions.end(),
                                     [](const Condition& c) { return c.type == "Approved"; });
  if (approved == conditions.end() || approved->reason != kOverrideReason) return o;
  o.justification = approved->message;
  if (!call.Master())
    o.refusal = fmt::format(" (the {} override is for system:masters only)", kOverrideReason);
  else if (o.justification.find_first_not_of(" \t\r\n") == std::string::npos)
    o.refusal =
        fmt::format(" (the {} override needs a justification in the message)", kOverrideReason);
  else
    o.granted = true;
  return o;
}

namespace {

bool Unauthenticated(const https::RequestHead& h) {
  return h.method == "GET" && (h.path == "/healthz" || h.path == "/readyz" || h.path == "/livez" ||
                               h.path == "/version");
}

}  // namespace

AuthOutcome Api::Authenticate(const https::Request& req) {
  std::vector<BootstrapToken> tokens;
  const std::string authorization = req.head.Header("authorization");
  if (!authorization.empty()) {
    auto t = LoadBootstrapTokens(config_.tokens_file);
    if (!t) {
      log_->Write("cannot read bootstrap tokens: " + t.error().ToString());
      AuthOutcome out;
      out.failure = "bootstrap tokens unreadable";
      return out;
    }
    tokens = *t;
  }
  static const std::vector<pki::Certificate> kNone;
  return recovery::Authenticate(req.peer ? req.peer->client_chain : kNone, authorization, tokens,
                                now());
}

std::optional<https::Response> Api::Admit(const https::Request& req) {
  if (Unauthenticated(req.head)) return std::nullopt;
  AuthOutcome auth = Authenticate(req);
  if (auth.authenticated) return std::nullopt;
  https::Response r = Fail(401, "Unauthorized", "Unauthorized");
  r.log_reason = "401: " + auth.failure;
  return r;
}

https::Response Api::Handle(const https::Request& req) {
  const std::string& path = req.head.path;
  if (Unauthenticated(req.head)) {
    if (path == "/version") return Reply(200, VersionInfo());
    https::Response r;
    r.content_type = "text/plain";
    r.body = "ok";
    return r;
  }
  AuthOutcome auth = Authenticate(req);
  if (!auth.authenticated) return Fail(401, "Unauthorized", "Unauthorized");
  Call call{req, {}, "", auth.identity, false};
  for (auto& [k, v] : https::ParseQuery(req.head.query)) call.query.emplace(k, v);
  call.table = call.Header("accept").find("as=Table") != std::string::npos;
  return Route(call);
}

https::Response Api::Route(Call& call) {
  const std::string& path = call.req.head.path;
  const std::string& m = call.req.head.method;
  if (path == "/apis" || path == "/apis/") return Reply(200, ApiGroupList());
  if (path == "/openapi/v2") {
    https::Response r;
    r.content_type = "application/octet-stream";  // an empty OpenAPI document (§2)
    return r;
  }
  if (!path.starts_with(kPrefix)) {
    if (path == "/apis/certificates.k8s.io") return Reply(200, ApiGroup());
    return Fail(404, "NotFound", "the server could not find the requested resource");
  }
  std::vector<std::string> parts;
  for (size_t s = kPrefix.size(); s <= path.size();) {
    size_t e = path.find('/', s);
    if (e == std::string::npos) e = path.size();
    parts.push_back(path.substr(s, e - s));
    s = e + 1;
  }
  if (!parts.empty() && parts.back().empty()) parts.pop_back();
  if (parts.empty() || (parts[0] != "v1" && parts[0] != "v1beta1"))
    return Fail(404, "NotFound", "the server could not find the requested resource");
  call.version = parts[0];
  if (parts.size() == 1) return Reply(200, ApiResourceList(call.version));
  if (parts[1] != kResource || parts.size() > 4)
    return Fail(404, "NotFound", "the server could not find the requested resource");
  const std::string name = parts.size() >= 3 ? parts[2] : "";
  const std::string sub = parts.size() == 4 ? parts[3] : "";
  if (!sub.empty() && sub != "approval" && sub != "status")
    return Fail(404, "NotFound", "the server could not find the requested resource");
  auto refuse = [&](const std::string& verb) { return Forbidden(call.who.user, verb, name); };
  if (name.empty()) {
    if (m == "GET") {
      if (!call.MayRequest()) return refuse("list");
      const std::string w = call.Query("watch");
      return w == "true" || w == "1" ? Watch(call) : List(call);
    }
    if (m == "POST") return call.MayRequest() ? Create(call) : refuse("create");
  } else if (m == "GET") {
    return call.MayRequest() ? Get(call, name) : refuse("get");
  } else if (m == "PUT") {
    if (!call.Master()) return refuse("update");
    if (sub == "approval") return UpdateApproval(call, name);
    if (sub == "status") return UpdateStatus(call, name);
    return UpdateMain(call, name);
  } else if (m == "DELETE" && sub.empty()) {
    return call.Master() ? Delete(call, name) : refuse("delete");
  }
  return Fail(405, "MethodNotAllowed",
              fmt::format("the server does not allow this method ({}) on the requested resource",
                          m.substr(0, 16)));
}

https::Response Api::List(Call& call) {
  auto selector = ParseFieldSelector(call.Query("fieldSelector"));
  if (!selector) return Fail(400, "BadRequest", selector.error().what);
  int64_t at = 0;
  std::vector<Csr> all = store_->List(&at), items;
  for (auto& c : all)
    if (selector->Matches(c)) items.push_back(std::move(c));
  if (call.table) {
    const std::string include =
        call.HasQuery("includeObject") ? call.Query("includeObject") : std::string("Metadata");
    return Reply(200, CsrTable(items, at, call.version, include, now()));
  }
  Json list{{"kind", "CertificateSigningRequestList"},
            {"apiVersion", std::string(kGroup) + "/" + call.version},
            {"metadata", {{"resourceVersion", std::to_string(at)}}},
            {"items", Json::array()}};
  for (const auto& c : items) list["items"].push_back(CsrToJson(c, call.version));
  return Reply(200, list);
}

https::Response Api::Watch(Call& call) {
  auto selector = ParseFieldSelector(call.Query("fieldSelector"));
  if (!selector) return Fail(400, "BadRequest", selector.error().what);
  const std::string rv_text = call.Query("resourceVersion");
  int64_t after = 0;
  std::vector<Event> initial;
  if (rv_text.empty() || rv_text == "0") {
    // rv unset or 0: the current state as ADDED events first (k8s-csr-api.md §3.7).
    for (auto& c : store_->List(&after))
      if (selector->Matches(c)) initial.push_back({"ADDED", std::move(c)});
  } else {
    auto v = ParseInt64(rv_text);
    if (!v || *v < 0) return Fail(400, "BadRequest", "resourceVersion is not a number");
    after = *v;
    if (!store_->WaitEvents(after, std::chrono::steady_clock::now()))
      return Fail(410, "Expired", fmt::format("too old resource version: {}", after));
  }
  int64_t seconds = config_.max_watch_seconds;
  if (auto t = ParseInt64(call.Query("timeoutSeconds")); t && *t > 0)
    seconds = std::min(seconds, *t);
  const bool table = call.table;
  const std::string version = call.version;
  const std::string include =
      call.HasQuery("includeObject") ? call.Query("includeObject") : std::string("Metadata");
  FieldSelector sel = *selector;
  https::Response r;
  // As kube-apiserver labels a watch stream; not plain application/json also
  // keeps the HTTP layer from gzipping it (which would hold events back).
  r.content_type = "application/json;stream=watch";
  r.stream = [this, initial, after, seconds, table, version, include,
              sel](https::ChunkWriter& out) mutable {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    // Column definitions in every event: kubectl drops the first event of
    // an rv=0 watch (k8s-csr-api.md §3.7), and with it any definitions.
    auto send = [&](const Event& e) {
      Json obj = table ? CsrTable({e.object}, e.object.resource_version, version, include, now())
                       : CsrToJson(e.object, version);
      return out.Write(Json{{"type", e.type}, {"object", obj}}.dump() + "\n");
    };
    for (const auto& e : initial)
      if (!send(e)) return;
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
      auto slice =
          std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(800));
      auto events = store_->WaitEvents(after, slice);
      if (!events) {
        out.Write(Json{{"type", "ERROR"},
                       {"object", StatusJson(410, "Expired", "too old resource version")}}
                      .dump() +
                  "\n");
        return;
      }
      if (events->empty()) {
        // Idle: a short look at the connection (an event waits at most this long).
        if (!out.Wait(std::chrono::milliseconds(100))) return;  // client gone or stopping
        continue;
      }
      for (const auto& e : *events) {
        after = std::max(after, e.object.resource_version);
        if (sel.Matches(e.object) && !send(e)) return;
      }
    }
  };
  return r;
}

https::Response Api::Get(Call& call, const std::string& name) {
  auto c = store_->Get(name);
  if (!c) return NotFound(name);
  if (call.table)
    return Reply(200, CsrTable({*c}, c->resource_version, call.version, "Metadata", now()));
  return Reply(200, CsrToJson(*c, call.version));
}

https::Response Api::Create(Call& call) {
  auto body = DecodeCsrBody(call.Header("content-type"), call.req.body);
  if (!body) return Fail(400, "BadRequest", body.error().ToString());
  Csr c = std::move(*body);
  if (c.name.empty() && !c.generate_name.empty())
    c.name = c.generate_name + RandomText(5, "bcdfghjklmnpqrstvwxz2456789");
  if (c.name.empty()) return Invalid("", "metadata.name", "name or generateName is required");
  if (!ValidObjectName(c.name))
    return Invalid(c.name, "metadata.name", "only letters, digits, '-', '.', '_' and ':'");
  // spec.request: a PEM CERTIFICATE REQUEST whose signature verifies.
  if (c.request.find("-----BEGIN CERTIFICATE REQUEST-----") == std::string::npos)
    return Invalid(c.name, "spec.request", "no PEM block of type CERTIFICATE REQUEST");
  auto parsed = pki::CertRequest::FromPem(c.request, "spec.request");
  if (!parsed) return Invalid(c.name, "spec.request", parsed.error().what);
  const pki::CsrInfo info = parsed->Info();
  if (!info.signature_valid)
    return Invalid(c.name, "spec.request", "the request's signature does not verify");
  // v1beta1 defaults (signer from the request's shape, usages).
  if (call.version == "v1beta1" && c.usages.empty())
    c.usages = {"digital signature", "key encipherment"};
  if (call.version == "v1beta1" && c.signer_name.empty()) {
    const bool nodes = info.subject.Organizations() == std::vector<std::string>{"system:nodes"} &&
                       info.subject.CommonName().starts_with("system:node:");
    const bool client =
        std::find(c.usages.begin(), c.usages.end(), "client auth") != c.usages.end();
    c.signer_name = !nodes   ? "kubernetes.io/legacy-unknown"
                    : client ? pki::kKubeletClientSigner
                             : pki::kKubeletServingSigner;
  }
  if (c.signer_name.empty()) return Invalid(c.name, "spec.signerName", "Required value");
  if (c.signer_name.find('/') == std::string::npos)
    return Invalid(c.name, "spec.signerName", "must be a fully qualified domain and path");
  if (call.version == "v1" && c.signer_name == "kubernetes.io/legacy-unknown")
    return Invalid(c.name, "spec.signerName", "the legacy signer may not be used with v1");
  if (c.usages.empty()) return Invalid(c.name, "spec.usages", "Required value");
  std::set<std::string> seen;
  for (const auto& u : c.usages) {
    if (!KnownUsage(u)) return Invalid(c.name, "spec.usages", fmt::format("unknown usage '{}'", u));
    if (!seen.insert(u).second)
      return Invalid(c.name, "spec.usages", fmt::format("duplicate usage '{}'", u));
  }
  if (c.expiration_seconds && *c.expiration_seconds < 600)
    return Invalid(c.name, "spec.expirationSeconds", "may not specify a duration less than 600s");
  // The caller is the requestor, whatever the body said; no status on create.
  c.username = call.who.user;
  c.user_uid = call.who.uid;
  c.groups = call.who.groups;
  c.uid = NewUid();
  c.creation_timestamp = k8s::FormatRfc3339(now());
  c.conditions.clear();
  c.certificate.clear();
  c.annotations.erase(kPolicyAnnotation);
  const std::string verdict = PolicyVerdict(c);
  c.annotations[kPolicyAnnotation] = verdict.empty() ? "passes the node policy" : verdict;
  auto stored = store_->Create(c);
  if (!stored) {
    if (stored.error().code == Code::kFailedPrecondition)
      return Fail(409, "AlreadyExists", Qualified(c.name) + " already exists", Details(c.name));
    return StoreFailure(stored.error(), c.name);
  }
  log_->Write(fmt::format("created {} by {} from {} signer={} policy: {}", signer::LogValue(c.name),
                          signer::LogValue(c.username), call.Remote(),
                          signer::LogValue(c.signer_name),
                          signer::LogValue(verdict.empty() ? "passes" : verdict)));
  return Reply(201, CsrToJson(*stored, call.version));
}

https::Response Api::Delete(Call& call, const std::string& name) {
  auto gone = store_->Delete(name);
  if (!gone) return StoreFailure(gone.error(), name);
  log_->Write(
      fmt::format("deleted {} by {}", signer::LogValue(name), signer::LogValue(call.who.user)));
  Json details = Details(name);
  details["uid"] = gone->uid;
  return Reply(200, StatusJson(200, "", "", details));
}

// The shape every PUT shares: decode the body (400), the stored object
// (404), a stale body resourceVersion (409); `prepare` may answer instead
// (a refusal), else `apply` changes the stored object, still at the version
// `prepare` saw (409 otherwise), and the result is answered (200).
https::Response Api::Put(Call& call, const std::string& name, const Prepare& prepare,
                         const Apply& apply) {
  auto body = DecodeCsrBody(call.Header("content-type"), call.req.body);
  if (!body) return Fail(400, "BadRequest", body.error().ToString());
  if (!body->name.empty() && body->name != name)
    return Fail(400, "BadRequest", "the name of the object does not match the name in the URL");
  auto cur = store_->Get(name);
  if (!cur) return NotFound(name);
  if (body->has_body_resource_version && body->resource_version != cur->resource_version)
    return Conflict(name);
  if (auto refusal = prepare(*body, *cur)) return *refusal;
  const int64_t expected = cur->resource_version;
  auto updated = store_->Update(name, [&](Csr& c) -> Result<void> {
    if (c.resource_version != expected)
      return MakeError(Code::kFailedPrecondition, name, "conflict");
    apply(*body, c);
    return {};
  });
  if (!updated) return StoreFailure(updated.error(), name);
  return Reply(200, CsrToJson(*updated, call.version));
}

https::Response Api::UpdateApproval(Call& call, const std::string& name) {
  std::vector<Condition> next;
  bool approving = false, overridden = false;
  std::string certificate;
  auto prepare = [&](const Csr& body, const Csr& cur) -> std::optional<https::Response> {
    next = body.conditions;
    if (auto why = CheckConditions(next, cur.conditions, k8s::FormatRfc3339(now())))
      return Invalid(name, "status.conditions", *why);
    approving = std::any_of(next.begin(), next.end(),
                            [](const Condition& c) { return c.type == "Approved"; }) &&
                !HasCondition(cur, "Approved");
    if (!approving) return std::nullopt;
    const std::string why = PolicyVerdict(cur);
    if (!why.empty()) {
      const Override asked = OverrideOf(call, next);
      const std::string still =
          asked.granted ? PolicyVerdict(cur, PolicyMode::kOperatorOverride) : why;
      if (!still.empty()) {
        const std::string reason =
            still +
            (asked.granted ? " (a rule the operator override does not waive)" : asked.refusal);
        log_->Write(fmt::format("refused approval of {} by {}: {}", signer::LogValue(name),
                                signer::LogValue(call.who.user), signer::LogValue(reason)));
        return Fail(403, "Forbidden",
                    fmt::format("{} is forbidden: CPR refuses to approve this request: {}",
                                Qualified(name), reason),
                    Details(name));
      }
      overridden = true;
      log_->Write(fmt::format("policy override for {} by {}: justification {}; the policy said: {}",
                              signer::LogValue(name), signer::LogValue(call.who.user),
                              signer::LogValue(asked.justification), signer::LogValue(why)));
    }
    auto signed_pem = issuer_->Sign(cur, now());
    if (!signed_pem) {
      log_->Write(fmt::format("signing {} failed: {}", signer::LogValue(name),
                              signed_pem.error().ToString()));
      return Fail(500, "InternalError", "signing failed: " + signed_pem.error().what);
    }
    certificate = *signed_pem;
    return std::nullopt;
  };
  https::Response r = Put(call, name, prepare, [&](const Csr&, Csr& c) {
    c.conditions = next;
    if (approving) c.certificate = certificate;
  });
  if (r.status == 200)
    log_->Write(fmt::format("{} set the conditions of {}: {}{}", signer::LogValue(call.who.user),
                            signer::LogValue(name), ConditionsOf(next),
                            !approving   ? ""
                            : overridden ? " (policy overridden by the operator, signed)"
                                         : " (policy passed, signed)"));
  return r;
}

https::Response Api::UpdateStatus(Call& call, const std::string& name) {
  std::vector<Condition> next;
  auto prepare = [&](const Csr& body, const Csr& cur) -> std::optional<https::Response> {
    next = body.conditions;
    if (auto why = CheckConditions(next, cur.conditions, k8s::FormatRfc3339(now())))
      return Invalid(name, "status.conditions", *why);
    for (const char* t : {"Approved", "Denied"}) {
      const bool has =
          std::any_of(next.begin(), next.end(), [&](const Condition& c) { return c.type == t; });
      if (HasCondition(cur, t) != has)
        return Invalid(name, "status.conditions",
                       fmt::format("the {} condition may only change through /approval", t));
    }
    if (!cur.certificate.empty() && body.certificate != cur.certificate)
      return Invalid(name, "status.certificate", "an issued certificate may not change");
    if (!body.certificate.empty()) {
      auto certs = pki::Certificate::AllFromPem(body.certificate, "status.certificate");
      if (!certs || certs->empty())
        return Invalid(name, "status.certificate", "not PEM CERTIFICATE blocks");
    }
    return std::nullopt;
  };
  return Put(call, name, prepare, [&](const Csr& body, Csr& c) {
    c.conditions = next;
    c.certificate = body.certificate;
  });
}

// Only metadata changes on the main object (spec and status are immutable there).
https::Response Api::UpdateMain(Call& call, const std::string& name) {
  return Put(
      call, name, [](const Csr&, const Csr&) { return std::optional<https::Response>(); },
      [](const Csr& body, Csr& c) {
        const std::string verdict = c.annotations[kPolicyAnnotation];
        c.labels = body.labels;
        c.annotations = body.annotations;
        c.annotations[kPolicyAnnotation] = verdict;
      });
}

}  // namespace cpr::recovery
