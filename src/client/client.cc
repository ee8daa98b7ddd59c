#include "client/client.h"

#include <fmt/format.h>
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "client/errors.h"
#include "client/proto/rpc.grpc.pb.h"
#include "util/atomic_file.h"
#include "util/duration.h"

namespace cpr::client {
namespace {

namespace pb = etcdserverpb;
using Clock = std::chrono::steady_clock;
// gRPC deadlines take system_clock time points only.
using GrpcClock = std::chrono::system_clock;

GrpcClock::time_point GrpcDeadline(std::chrono::nanoseconds d) {
  return GrpcClock::now() + std::chrono::duration_cast<GrpcClock::duration>(d);
}

// Once per process, before gRPC starts:
//  * gRPC logs transport errors (handshake failures ...) to stderr itself;
//    CPR reports each failure once, in its own words.
//  * host names resolve with getaddrinfo (/etc/hosts, nsswitch), as etcdctl
//    does, not with gRPC's c-ares resolver (an operator's GRPC_DNS_RESOLVER
//    still wins).
void InitGrpcOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    ::setenv("GRPC_DNS_RESOLVER", "native", 0);
    gpr_set_log_function([](gpr_log_func_args*) {});
  });
}

// ---- pb -> plain types ------------------------------------------------------

Header FromPb(const pb::ResponseHeader& h) {
  return Header{h.cluster_id(), h.member_id(), h.revision(), h.raft_term()};
}

KeyValue FromPb(const mvccpb::KeyValue& kv) {
  return KeyValue{kv.key(),     kv.create_revision(), kv.mod_revision(),
                  kv.version(), kv.value(),           kv.lease()};
}

Member FromPb(const pb::Member& m) {
  Member out;
  out.id = m.id();
  out.name = m.name();
  out.peer_urls.assign(m.peerurls().begin(), m.peerurls().end());
  out.client_urls.assign(m.clienturls().begin(), m.clienturls().end());
  out.is_learner = m.islearner();
  return out;
}

template <class R>
MembersResponse MembersFromPb(const R& r) {
  MembersResponse out;
  out.header = FromPb(r.header());
  for (const auto& m : r.members()) out.members.push_back(FromPb(m));
  return out;
}

RangeResponse FromPb(const pb::RangeResponse& r) {
  RangeResponse out;
  out.header = FromPb(r.header());
  for (const auto& kv : r.kvs()) out.kvs.push_back(FromPb(kv));
  out.more = r.more();
  out.count = r.count();
  return out;
}

PutResponse FromPb(const pb::PutResponse& r) {
  PutResponse out;
  out.header = FromPb(r.header());
  if (r.has_prev_kv()) out.prev_kv = FromPb(r.prev_kv());
  return out;
}

DeleteRangeResponse FromPb(const pb::DeleteRangeResponse& r) {
  DeleteRangeResponse out;
  out.header = FromPb(r.header());
  out.deleted = r.deleted();
  for (const auto& kv : r.prev_kvs()) out.prev_kvs.push_back(FromPb(kv));
  return out;
}

// ---- plain types -> pb ------------------------------------------------------

void ToPb(const RangeRequest& in, pb::RangeRequest* out) {
  out->set_key(in.key);
  out->set_range_end(in.range_end);
  out->set_limit(in.limit);
  out->set_revision(in.revision);
  out->set_serializable(in.serializable);
  out->set_keys_only(in.keys_only);
  out->set_count_only(in.count_only);
  out->set_sort_order(static_cast<pb::RangeRequest::SortOrder>(in.sort_order));
  out->set_sort_target(static_cast<pb::RangeRequest::SortTarget>(in.sort_target));
}

void ToPb(const PutRequest& in, pb::PutRequest* out) {
  out->set_key(in.key);
  out->set_value(in.value);
  out->set_lease(in.lease);
  out->set_prev_kv(in.prev_kv);
}

void ToPb(const DeleteRangeRequest& in, pb::DeleteRangeRequest* out) {
  out->set_key(in.key);
  out->set_range_end(in.range_end);
  out->set_prev_kv(in.prev_kv);
}

void ToPb(const RequestOp& op, pb::RequestOp* out) {
  if (const auto* r = std::get_if<RangeRequest>(&op)) ToPb(*r, out->mutable_request_range());
  if (const auto* p = std::get_if<PutRequest>(&op)) ToPb(*p, out->mutable_request_put());
  if (const auto* d = std::get_if<DeleteRangeRequest>(&op))
    ToPb(*d, out->mutable_request_delete_range());
}

void ToPb(const Compare& c, pb::Compare* out) {
  out->set_result(static_cast<pb::Compare::CompareResult>(c.result));
  out->set_target(static_cast<pb::Compare::CompareTarget>(c.target));
  out->set_key(c.key);
  out->set_range_end(c.range_end);
  switch (c.target) {
    case Compare::Target::kVersion:
      out->set_version(c.number);
      break;
    case Compare::Target::kCreate:
      out->set_create_revision(c.number);
      break;
    case Compare::Target::kMod:
      out->set_mod_revision(c.number);
      break;
    case Compare::Target::kValue:
      out->set_value(c.value);
      break;
    case Compare::Target::kLease:
      out->set_lease(c.number);
      break;
  }
}

// ---- TLS files --------------------------------------------------------------

struct TlsMaterial {
  std::string ca, cert, key;
};

Result<std::string> ReadPem(const std::string& path, const std::string& flag) {
  auto r = ReadFileLimited(path, 1 << 20);
  if (!r) {
    Error e = std::move(r).error();
    return MakeError(Code::kInvalidArgument, flag, fmt::format("cannot read {}: {}", path, e.what));
  }
  return std::move(r).value();
}

// Checks what gRPC would otherwise report obscurely at handshake time: the
// files are PEM, the key matches the certificate, the certificate is valid
// now (an expired client certificate is refused by etcd anyway).
Result<TlsMaterial> LoadTls(const TlsFiles& files) {
  TlsMaterial m;
  if (files.cert.empty() != files.key.empty())
    return MakeError(Code::kInvalidArgument, files.cert.empty() ? "--key" : "--cert",
                     "--cert and --key go together", "pass both, or neither");
  if (!files.cacert.empty()) {
    m.ca = CPR_TRY(ReadPem(files.cacert, "--cacert"));
    BIO* bio = BIO_new_mem_buf(m.ca.data(), static_cast<int>(m.ca.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (x == nullptr)
      return MakeError(Code::kInvalidArgument, "--cacert",
                       files.cacert + " holds no PEM certificate");
    X509_free(x);
  }
  if (files.cert.empty()) return m;
  m.cert = CPR_TRY(ReadPem(files.cert, "--cert"));
  m.key = CPR_TRY(ReadPem(files.key, "--key"));
  BIO* cbio = BIO_new_mem_buf(m.cert.data(), static_cast<int>(m.cert.size()));
  X509* cert = PEM_read_bio_X509(cbio, nullptr, nullptr, nullptr);
  BIO_free(cbio);
  if (cert == nullptr)
    return MakeError(Code::kInvalidArgument, "--cert", files.cert + " holds no PEM certificate");
  BIO* kbio = BIO_new_mem_buf(m.key.data(), static_cast<int>(m.key.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kbio, nullptr, nullptr, nullptr);
  BIO_free(kbio);
  Result<TlsMaterial> result = m;
  if (key == nullptr) {
    result = MakeError(Code::kInvalidArgument, "--key",
                       files.key + " holds no PEM private key (or it is encrypted)");
  } else if (X509_check_private_key(cert, key) != 1) {
    result = MakeError(
        Code::kInvalidArgument, "--key",
        fmt::format("{} does not match the certificate in --cert {}", files.key, files.cert));
  } else if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    BIO* out = BIO_new(BIO_s_mem());
    ASN1_TIME_print(out, X509_get0_notAfter(cert));
    char* text = nullptr;
    const long n = BIO_get_mem_data(out, &text);
    const std::string when(text, static_cast<size_t>(n));
    BIO_free(out);
    result = MakeError(Code::kFailedPrecondition, "--cert",
                       fmt::format("client certificate {} expired on {}", files.cert, when),
                       "renew it (etcd refuses expired client certificates)");
  } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    result = MakeError(Code::kFailedPrecondition, "--cert",
                       fmt::format("client certificate {} is not valid yet", files.cert),
                       "check this host's clock");
  }
  EVP_PKEY_free(key);
  X509_free(cert);
  return result;
}

// ---- connections ------------------------------------------------------------

struct Conn {
  Endpoint endpoint;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Cluster::Stub> cluster;
  std::unique_ptr<pb::Maintenance::Stub> maintenance;
  std::unique_ptr<pb::Auth::Stub> auth;
};

enum class Idempotent { kYes, kNo };

}  // namespace

const char* AlarmTypeName(AlarmType type) {
  switch (type) {
    case AlarmType::kNone:
      return "NONE";
    case AlarmType::kNoSpace:
      return "NOSPACE";
    case AlarmType::kCorrupt:
      return "CORRUPT";
  }
  return "UNKNOWN";
}

struct Client::Impl {
  Config config;
  TlsMaterial tls;
  std::mutex mu;  // guards conns, preferred, token
  std::map<std::string, std::shared_ptr<Conn>> conns;
  size_t preferred = 0;
  std::string token;

  Result<std::shared_ptr<Conn>> GetConn(const std::string& endpoint_text) {
    Endpoint ep = CPR_TRY(ParseEndpoint(endpoint_text, "endpoint"));
    return GetConn(ep);
  }

  std::shared_ptr<Conn> GetConn(const Endpoint& ep) {
    const bool use_tls = config.UsesTls(ep);
    const std::string id = (use_tls ? "tls:" : "tcp:") + ep.Target();
    std::lock_guard<std::mutex> lock(mu);
    auto it = conns.find(id);
    if (it != conns.end()) return it->second;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
    // A private subchannel: every Client dials for itself.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // gRPC gives each connection attempt (TCP, TLS, HTTP/2 settings) at
    // least the "min reconnect backoff": make that a little more than the
    // dial timeout, so a slow handshake gets all of it and our own deadline
    // (WaitReady) is what ends a hanging one; retries start after 100 ms.
    const int dial_ms = static_cast<int>(std::clamp<int64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(config.dial_timeout).count() + 1000,
        100, INT32_MAX));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, dial_ms);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, std::max(dial_ms, 1000));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    // A snapshot is a one-way bulk stream: let etcd send ahead (8 MiB per
    // stream) instead of waiting for window updates every 64 KiB.
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (use_tls) {
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = tls.ca;
      o.pem_cert_chain = tls.cert;
      o.pem_private_key = tls.key;
      creds = grpc::SslCredentials(o);
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
    auto c = std::make_shared<Conn>();
    c->endpoint = ep;
    c->channel = grpc::CreateCustomChannel(ep.Target(), creds, args);
    c->kv = pb::KV::NewStub(c->channel);
    c->cluster = pb::Cluster::NewStub(c->channel);
    c->maintenance = pb::Maintenance::NewStub(c->channel);
    c->auth = pb::Auth::NewStub(c->channel);
    conns.emplace(id, c);
    return c;
  }

  // Waits up to dial-timeout for the channel to be ready. Returns false with
  // `failure` set when it failed or timed out; a failed channel is then
  // probed by the call itself (fail-fast), whose status says why.
  bool WaitReady(Conn& c, RpcFailure* failure) {
    const auto deadline = GrpcDeadline(config.dial_timeout);
    grpc_connectivity_state state = c.channel->GetState(true);
    while (state != GRPC_CHANNEL_READY) {
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
        failure->connecting = true;
        return false;
      }
      if (!c.channel->WaitForStateChange(state, deadline)) {
        failure->connecting = true;
        failure->dial_timed_out = true;
        return false;
      }
      state = c.channel->GetState(true);
    }
    return true;
  }

  void PrepareContext(grpc::ClientContext* ctx, bool with_deadline, bool with_token) {
    if (with_deadline) ctx->set_deadline(GrpcDeadline(config.command_timeout));
    if (with_token) {
      std::lock_guard<std::mutex> lock(mu);
      if (!token.empty()) ctx->AddMetadata("token", token);
    }
  }

  // Gets a token when --user is set and there is none yet.
  Result<void> EnsureToken(Conn& c) {
    if (config.user.empty()) return {};
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!token.empty()) return {};
    }
    pb::AuthenticateRequest req;
    req.set_name(config.user);
    req.set_password(config.password);
    pb::AuthenticateResponse resp;
    grpc::ClientContext ctx;
    PrepareContext(&ctx, true, false);
    grpc::Status s = c.auth->Authenticate(&ctx, req, &resp);
    if (!s.ok()) {
      RpcFailure f{static_cast<RpcCode>(s.error_code()), s.error_message(), "Authenticate"};
      return ExplainRpcFailure(f, c.endpoint, config);
    }
    std::lock_guard<std::mutex> lock(mu);
    token = resp.token();
    return {};
  }

  // One unary call on one endpoint: connect (dial-timeout), authenticate if
  // needed, call (command-timeout), re-authenticate once on an expired token.
  // On failure, `*failure` says how far it got.
  template <class Fn>
  Result<void> CallOn(Conn& c, const char* rpc, Fn&& fn, RpcFailure* failure) {
    failure->rpc = rpc;
    const bool ready = WaitReady(c, failure);
    if (failure->dial_timed_out) return ExplainRpcFailure(*failure, c.endpoint, config);
    if (ready) {
      if (auto t = EnsureToken(c); !t) {
        // Authenticate goes through raft: "no leader" or a timeout there is
        // the member's state, worth trying another endpoint for.
        failure->code = t.error().code == Code::kUnavailable ? RpcCode::kUnavailable
                                                             : RpcCode::kUnauthenticated;
        return std::move(t).error();
      }
    }
    for (int attempt = 0;; attempt++) {
      grpc::ClientContext ctx;
      PrepareContext(&ctx, true, true);
      grpc::Status s = fn(&ctx);
      if (s.ok()) return {};
      failure->code = static_cast<RpcCode>(s.error_code());
      failure->message = s.error_message();
      if (attempt == 0 && ready && !config.user.empty() &&
          s.error_message().find("invalid auth token") != std::string::npos) {
        {
          std::lock_guard<std::mutex> lock(mu);
          token.clear();
        }
        CPR_RETURN_IF_ERROR(EnsureToken(c));
        continue;
      }
      if (ready &&
          (failure->code == RpcCode::kDeadlineExceeded || failure->code == RpcCode::kUnavailable))
        failure->cause = AskCause(c);
      return ExplainRpcFailure(*failure, c.endpoint, config);
    }
  }

  // Why a member that answers could not serve a call, from its own Status
  // (served without raft): no leader, or a learner. Asked with a short
  // deadline, so a member that hangs costs little more than the call did.
  RpcFailure::Cause AskCause(Conn& c) {
    pb::StatusRequest req;
    pb::StatusResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(GrpcDeadline(
        std::min<std::chrono::nanoseconds>(config.dial_timeout, std::chrono::seconds(1))));
    PrepareContext(&ctx, false, true);
    if (!c.maintenance->Status(&ctx, req, &resp).ok()) return RpcFailure::Cause::kUnknown;
    const bool no_leader =
        resp.leader() == 0 ||
        std::any_of(resp.errors().begin(), resp.errors().end(),
                    [](const std::string& e) { return e.find("no leader") != std::string::npos; });
    if (no_leader) return RpcFailure::Cause::kNoLeader;
    return resp.islearner() ? RpcFailure::Cause::kLearner : RpcFailure::Cause::kUnknown;
  }

  // A cluster-wide call: the configured endpoints in turn, starting with the
  // one that last answered.
  template <class Fn>
  Result<void> CallAny(const char* rpc, Idempotent idempotent, Fn&& fn) {
    const size_t n = config.endpoints.size();
    size_t start;
    {
      std::lock_guard<std::mutex> lock(mu);
      start = preferred;
    }
    std::vector<EndpointFailure> failures;
    for (size_t i = 0; i < n; i++) {
      const size_t idx = (start + i) % n;
      std::shared_ptr<Conn> c = GetConn(config.endpoints[idx]);
      RpcFailure failure;
      auto r = CallOn(
          *c, rpc, [&](grpc::ClientContext* ctx) { return fn(*c, ctx); }, &failure);
      if (r) {
        std::lock_guard<std::mutex> lock(mu);
        preferred = idx;
        return {};
      }
      const bool may_retry =
          idempotent == Idempotent::kYes ? IsTransportFailure(failure) : failure.connecting;
      failures.push_back({config.endpoints[idx].text, std::move(r).error()});
      if (!may_retry || n == 1) return failures.back().error;
    }
    return SummarizeFailures(rpc, failures);
  }

  template <class Fn>
  Result<void> CallEndpoint(const std::string& endpoint, const char* rpc, Fn&& fn) {
    std::shared_ptr<Conn> c = CPR_TRY(GetConn(endpoint));
    RpcFailure failure;
    return CallOn(
        *c, rpc, [&](grpc::ClientContext* ctx) { return fn(*c, ctx); }, &failure);
  }
};

Client::Client() : impl_(std::make_unique<Impl>()) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Create(Config config) {
  InitGrpcOnce();
  if (config.endpoints.empty())
    return MakeError(Code::kInvalidArgument, "--endpoints", "no endpoint given");
  if (config.dial_timeout.count() <= 0)
    return MakeError(Code::kInvalidArgument, "--dial-timeout", "must be positive");
  if (config.command_timeout.count() <= 0)
    return MakeError(Code::kInvalidArgument, "--command-timeout", "must be positive");
  std::unique_ptr<Client> c(new Client());
  c->impl_->tls = CPR_TRY(LoadTls(config.tls));
  c->impl_->config = std::move(config);
  return c;
}

const Config& Client::config() const { return impl_->config; }

// ---- KV ---------------------------------------------------------------------

Result<RangeResponse> Client::Range(const RangeRequest& request) {
  pb::RangeRequest req;
  ToPb(request, &req);
  pb::RangeResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallAny(
      "Range", Idempotent::kYes,
      [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->Range(ctx, req, &resp); }));
  return FromPb(resp);
}

Result<PutResponse> Client::Put(const PutRequest& request) {
  pb::PutRequest req;
  ToPb(request, &req);
  pb::PutResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallAny(
      "Put", Idempotent::kNo,
      [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->Put(ctx, req, &resp); }));
  return FromPb(resp);
}

Result<DeleteRangeResponse> Client::DeleteRange(const DeleteRangeRequest& request) {
  pb::DeleteRangeRequest req;
  ToPb(request, &req);
  pb::DeleteRangeResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallAny(
      "DeleteRange", Idempotent::kNo,
      [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->DeleteRange(ctx, req, &resp); }));
  return FromPb(resp);
}

Result<TxnResponse> Client::Txn(const TxnRequest& request) {
  pb::TxnRequest req;
  for (const Compare& c : request.compare) ToPb(c, req.add_compare());
  for (const RequestOp& op : request.success) ToPb(op, req.add_success());
  for (const RequestOp& op : request.failure) ToPb(op, req.add_failure());
  pb::TxnResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallAny(
      "Txn", Idempotent::kNo,
      [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->Txn(ctx, req, &resp); }));
  TxnResponse out;
  out.header = FromPb(resp.header());
  out.succeeded = resp.succeeded();
  for (const auto& r : resp.responses()) {
    switch (r.response_case()) {
      case pb::ResponseOp::kResponseRange:
        out.responses.emplace_back(FromPb(r.response_range()));
        break;
      case pb::ResponseOp::kResponsePut:
        out.responses.emplace_back(FromPb(r.response_put()));
        break;
      case pb::ResponseOp::kResponseDeleteRange:
        out.responses.emplace_back(FromPb(r.response_delete_range()));
        break;
      default:
        return MakeError(Code::kInternal, "Txn", "unexpected response kind (nested txn)");
    }
  }
  return out;
}

// ---- Cluster ----------------------------------------------------------------

Result<MembersResponse> Client::MemberList() {
  pb::MemberListRequest req;
  pb::MemberListResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallAny(
      "MemberList", Idempotent::kYes,
      [&](Conn& c, grpc::ClientContext* ctx) { return c.cluster->MemberList(ctx, req, &resp); }));
  return MembersFromPb(resp);
}

Result<MemberAddResponse> Client::MemberAdd(const std::vector<std::string>& peer_urls,
                                            bool learner) {
  pb::MemberAddRequest req;
  for (const auto& u : peer_urls) req.add_peerurls(u);
  req.set_islearner(learner);
  pb::MemberAddResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallAny(
      "MemberAdd", Idempotent::kNo,
      [&](Conn& c, grpc::ClientContext* ctx) { return c.cluster->MemberAdd(ctx, req, &resp); }));
  MemberAddResponse out;
  out.header = FromPb(resp.header());
  out.member = FromPb(resp.member());
  for (const auto& m : resp.members()) out.members.push_back(FromPb(m));
  return out;
}

Result<MembersResponse> Client::MemberRemove(uint64_t id) {
  pb::MemberRemoveRequest req;
  req.set_id(id);
  pb::MemberRemoveResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallAny(
      "MemberRemove", Idempotent::kNo,
      [&](Conn& c, grpc::ClientContext* ctx) { return c.cluster->MemberRemove(ctx, req, &resp); }));
  return MembersFromPb(resp);
}

Result<MembersResponse> Client::MemberUpdate(uint64_t id,
                                             const std::vector<std::string>& peer_urls) {
  pb::MemberUpdateRequest req;
  req.set_id(id);
  for (const auto& u : peer_urls) req.add_peerurls(u);
  pb::MemberUpdateResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallAny(
      "MemberUpdate", Idempotent::kNo,
      [&](Conn& c, grpc::ClientContext* ctx) { return c.cluster->MemberUpdate(ctx, req, &resp); }));
  return MembersFromPb(resp);
}

Result<MembersResponse> Client::MemberPromote(uint64_t id) {
  pb::MemberPromoteRequest req;
  req.set_id(id);
  pb::MemberPromoteResponse resp;
  CPR_RETURN_IF_ERROR(
      impl_->CallAny("MemberPromote", Idempotent::kNo, [&](Conn& c, grpc::ClientContext* ctx) {
        return c.cluster->MemberPromote(ctx, req, &resp);
      }));
  return MembersFromPb(resp);
}

// ---- Maintenance ------------------------------------------------------------

namespace {
AlarmResponse AlarmsFromPb(const pb::AlarmResponse& r) {
  AlarmResponse out;
  if (r.has_header()) out.header = FromPb(r.header());
  for (const auto& a : r.alarms())
    out.alarms.push_back(AlarmMember{a.memberid(), static_cast<AlarmType>(a.alarm())});
  return out;
}
}  // namespace

Result<AlarmResponse> Client::AlarmList() {
  pb::AlarmRequest req;
  req.set_action(pb::AlarmRequest::GET);
  req.set_alarm(pb::NONE);
  pb::AlarmResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallAny(
      "Alarm", Idempotent::kYes,
      [&](Conn& c, grpc::ClientContext* ctx) { return c.maintenance->Alarm(ctx, req, &resp); }));
  return AlarmsFromPb(resp);
}

Result<AlarmResponse> Client::AlarmDisarm() {
  // As clientv3's AlarmDisarm with an empty member: list, then deactivate
  // each alarm; the answer is the last deactivation's (or the list's).
  AlarmResponse listed = CPR_TRY(AlarmList());
  AlarmResponse out = listed;
  for (const AlarmMember& a : listed.alarms) {
    pb::AlarmRequest req;
    req.set_action(pb::AlarmRequest::DEACTIVATE);
    req.set_memberid(a.member_id);
    req.set_alarm(static_cast<pb::AlarmType>(a.alarm));
    pb::AlarmResponse resp;
    CPR_RETURN_IF_ERROR(impl_->CallAny(
        "Alarm", Idempotent::kYes,
        [&](Conn& c, grpc::ClientContext* ctx) { return c.maintenance->Alarm(ctx, req, &resp); }));
    out = AlarmsFromPb(resp);
  }
  return out;
}

Result<StatusResponse> Client::Status(const std::string& endpoint) {
  pb::StatusRequest req;
  pb::StatusResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallEndpoint(
      endpoint, "Status",
      [&](Conn& c, grpc::ClientContext* ctx) { return c.maintenance->Status(ctx, req, &resp); }));
  StatusResponse out;
  out.header = FromPb(resp.header());
  out.version = resp.version();
  out.db_size = resp.dbsize();
  out.leader = resp.leader();
  out.raft_index = resp.raftindex();
  out.raft_term = resp.raftterm();
  out.raft_applied_index = resp.raftappliedindex();
  out.errors.assign(resp.errors().begin(), resp.errors().end());
  out.db_size_in_use = resp.dbsizeinuse();
  out.is_learner = resp.islearner();
  return out;
}

Result<HashKVResponse> Client::HashKV(const std::string& endpoint, int64_t revision) {
  pb::HashKVRequest req;
  req.set_revision(revision);
  pb::HashKVResponse resp;
  CPR_RETURN_IF_ERROR(impl_->CallEndpoint(
      endpoint, "HashKV",
      [&](Conn& c, grpc::ClientContext* ctx) { return c.maintenance->HashKV(ctx, req, &resp); }));
  return HashKVResponse{FromPb(resp.header()), resp.hash(), resp.compact_revision()};
}

Result<void> Client::Defragment(const std::string& endpoint) {
  pb::DefragmentRequest req;
  pb::DefragmentResponse resp;
  return impl_->CallEndpoint(endpoint, "Defragment", [&](Conn& c, grpc::ClientContext* ctx) {
    return c.maintenance->Defragment(ctx, req, &resp);
  });
}

Result<void> Client::Health(const std::string& endpoint) {
  pb::RangeRequest req;
  req.set_key("health");
  pb::RangeResponse resp;
  auto r = impl_->CallEndpoint(endpoint, "Range", [&](Conn& c, grpc::ClientContext* ctx) {
    return c.kv->Range(ctx, req, &resp);
  });
  // etcdctl: "permission denied is OK since proposal goes through consensus"
  if (!r && r.error().what.find("permission denied") != std::string::npos) return {};
  return r;
}

Result<Client::SnapshotInfo> Client::Snapshot(
    const std::string& endpoint, const std::function<Result<void>(Bytes, uint64_t)>& sink,
    const std::atomic<bool>* cancel) {
  std::shared_ptr<Conn> c = CPR_TRY(impl_->GetConn(endpoint));
  const Config& cfg = impl_->config;
  RpcFailure failure;
  failure.rpc = "Snapshot";
  const bool ready = impl_->WaitReady(*c, &failure);
  if (failure.dial_timed_out) return ExplainRpcFailure(failure, c->endpoint, cfg);
  if (ready) CPR_RETURN_IF_ERROR(impl_->EnsureToken(*c));

  grpc::ClientContext ctx;
  impl_->PrepareContext(&ctx, false, true);
  // A watchdog cancels the stream after command-timeout without a message,
  // or when the caller cancels.
  std::mutex mu;
  std::condition_variable cv;
  bool done = false, stalled = false, cancelled = false;
  auto last = Clock::now();
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {  // `done` is set by the streaming thread while we wait
      cv.wait_for(lock, std::chrono::milliseconds(100));
      if (done) break;
      if (cancel != nullptr && cancel->load()) {
        cancelled = true;
        ctx.TryCancel();
        break;
      }
      if (Clock::now() - last > cfg.command_timeout) {
        stalled = true;
        ctx.TryCancel();
        break;
      }
    }
  });
  auto stop_watchdog = [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    }
    cv.notify_all();
    if (watchdog.joinable()) watchdog.join();
  };

  SnapshotInfo info;
  std::optional<Error> sink_error;
  bool first = true;
  pb::SnapshotResponse resp;
  bool caller_cancelled = false;  // seen by this thread
  auto is_cancelled = [&] {
    if (cancel == nullptr || !cancel->load()) return false;
    caller_cancelled = true;
    std::lock_guard<std::mutex> lock(mu);
    cancelled = true;
    return true;
  };
  std::unique_ptr<grpc::ClientReader<pb::SnapshotResponse>> reader =
      c->maintenance->Snapshot(&ctx, pb::SnapshotRequest());
  while (!is_cancelled() && reader->Read(&resp)) {
    {
      std::lock_guard<std::mutex> lock(mu);
      last = Clock::now();
    }
    const std::string& blob = resp.blob();
    if (first) {
      info.db_size = resp.remaining_bytes() + blob.size();
      first = false;
    }
    info.bytes += blob.size();
    if (info.bytes > info.db_size + 32) {
      sink_error = MakeError(Code::kCorrupt, "endpoint " + c->endpoint.text,
                             fmt::format("Snapshot: received more than the announced {} bytes + "
                                         "32-byte SHA-256",
                                         info.db_size));
      ctx.TryCancel();
      break;
    }
    if (is_cancelled()) break;
    if (auto r = sink(blob, info.db_size); !r) {
      sink_error = std::move(r).error();
      ctx.TryCancel();
      break;
    }
  }
  if (caller_cancelled) ctx.TryCancel();
  grpc::Status s = reader->Finish();
  stop_watchdog();
  if (sink_error) return *sink_error;
  const std::string where = "endpoint " + c->endpoint.text;
  if (cancelled) return MakeError(Code::kUnavailable, where, "Snapshot: cancelled");
  if (stalled)
    return MakeError(Code::kUnavailable, where,
                     fmt::format("Snapshot: no data for {} (--command-timeout) after {} bytes",
                                 FormatGoDuration(cfg.command_timeout), info.bytes),
                     "the member may be overloaded or partitioned");
  if (!s.ok()) {
    failure.code = static_cast<RpcCode>(s.error_code());
    failure.message = s.error_message();
    Error e = ExplainRpcFailure(failure, c->endpoint, cfg);
    if (info.bytes > 0)
      e.what += fmt::format(" (stream cut after {} of {} bytes)", info.bytes, info.db_size + 32);
    else if (!failure.connecting)
      e.what += " (stream cut before any data)";
    return e;
  }
  if (first || info.bytes != info.db_size + 32)
    return MakeError(Code::kUnavailable, where,
                     fmt::format("Snapshot: stream ended after {} bytes; expected {} + 32",
                                 info.bytes, info.db_size));
  return info;
}

}  // namespace cpr::client
