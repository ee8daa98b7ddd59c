#include "procedures/member_recover.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>
#include <thread>

#include "etcd/data_dir_state.h"
#include "host/host.h"
#include "host/member_runtime.h"
#include "host/pod_manifest.h"
#include "host/probe.h"
#include "pki/cert.h"
#include "pki/etcd_pki.h"
#include "pki/lifetime.h"
#include "pki/verify.h"
#include "procedures/serving.h"
#include "signer/client.h"
#include "util/atomic_file.h"
#include "util/text.h"

namespace cpr::procedures {
namespace {

using Clock = std::chrono::steady_clock;

// How often a refused member change or promotion is asked again: etcd
// answers at once, and each retry is one small RPC.
constexpr auto kRetry = std::chrono::milliseconds(50);
constexpr const char* kProcedure = "member-recover";
constexpr const char* kManifestFile = "etcd-member.yaml";

bool Exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

std::string UrlHost(const std::string& ip) {
  return ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
}

std::string EndpointList(const client::Config& c) {
  std::vector<std::string> out;
  for (const auto& e : c.endpoints) out.push_back(e.text);
  return JoinList(out, ",");
}

// The member in `members` at `peer_url`, or null.
const client::Member* ByPeerUrl(const std::vector<client::Member>& members,
                                const std::string& peer_url) {
  for (const auto& m : members)
    if (std::find(m.peer_urls.begin(), m.peer_urls.end(), peer_url) != m.peer_urls.end()) return &m;
  return nullptr;
}

// etcd's words for "not now, ask again" on member changes (etcdserver/errors.go,
// membership/errors.go): one learner at a time; the newest voter not yet
// connected for 5 s; a learner not yet in sync.
bool Says(const Error& e, std::string_view words) {
  return e.ToString().find(words) != std::string::npos;
}
bool TooManyLearners(const Error& e) { return Says(e, "too many learner members"); }
bool NotReadyForChange(const Error& e) {
  return Says(e, "unhealthy cluster") ||
         Says(e, "re-configuration failed due to not enough started members");
}
bool LearnerNotInSync(const Error& e) {
  return Says(e, "can only promote a learner member which is in sync with leader");
}
// A call that timed out may still be applied (the proposal was made): the
// caller looks again instead of failing.
bool TimedOut(const Error& e) { return Says(e, "timed out"); }
bool NotALearner(const Error& e) {
  return Says(e, "can only promote a learner member") && !LearnerNotInSync(e);
}

// ETCD_INITIAL_CLUSTER as `etcdctl member add` prints it: every member at
// each of its peer URLs, the new one under its own name.
std::string InitialClusterOf(const std::vector<client::Member>& members, uint64_t self_id,
                             const std::string& self_name) {
  std::vector<std::string> parts;
  for (const auto& m : members)
    for (const auto& u : m.peer_urls)
      parts.push_back((m.id == self_id ? self_name : m.name) + "=" + u);
  return JoinList(parts, ",");
}

// The certificate at `dir`/<stem>.crt is this host's for `profile`, chains
// to the signer's CAs, matches its key and is valid now: kept on a re-run
// (the token obtains each certificate once).
bool UsableCertificate(const std::string& dir, pki::Profile profile, const std::string& name,
                       const std::vector<pki::Certificate>& cas) {
  const std::string stem = dir + "/" + pki::GetProfile(profile).file_stem;
  auto certs = pki::ReadCertificates(stem + ".crt");
  auto key = pki::ReadPrivateKey(stem + ".key");
  if (!certs || !key || certs->empty()) return false;
  const pki::Certificate& cert = certs->front();
  const pki::CertInfo info = cert.Info();
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  return cert.MatchesKey(*key) &&
         info.subject.CommonName() == pki::ProfileCommonName(profile, name) &&
         info.not_before <= now && now < info.not_after && pki::VerifyChain(cert, cas).has_value();
}

// `path` moved aside into `dest_dir` (its own folder by default): kept,
// never deleted, and said.
Result<void> MoveAside(const std::string& path, StepContext& ctx,
                       const std::string& dest_dir = "") {
  const std::string aside = CPR_TRY(cpr::MoveAside(path, dest_dir));
  ctx.Say("moved " + path + " aside to " + aside + " (kept)");
  return {};
}

// The static pod restarted: its manifest moved out until etcd has let go of
// the data dir, then back (a kubelet starts a fresh pod, no crash backoff).
Result<void> RestartStaticPod(const MemberRecoverPlan& p, StepContext& ctx) {
  const std::string parked = p.stopped_dir + "/" + kManifestFile;
  CPR_RETURN_IF_ERROR(MakeDirs(p.stopped_dir, 0700));
  if (::rename(p.manifest.c_str(), parked.c_str()) != 0)
    return MakeError(Code::kIo, p.manifest,
                     std::string("cannot move out: ") + std::strerror(errno));
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (host::DataDirLocked(p.data_dir) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (::rename(parked.c_str(), p.manifest.c_str()) != 0)
    return MakeError(Code::kIo, parked, std::string("cannot move back: ") + std::strerror(errno));
  CPR_RETURN_IF_ERROR(FsyncDir(DirName(p.manifest)));
  ctx.Say("etcd restarted");
  return {};
}

}  // namespace

const char* JoinStateName(JoinState s) {
  switch (s) {
    case JoinState::kNew:
      return "new";
    case JoinState::kAdded:
      return "added, never started";
    case JoinState::kLearner:
      return "learner, not promoted";
    case JoinState::kJoined:
      return "joined";
  }
  return "?";
}

Result<MemberRecoverPlan> PlanMemberRecover(const MemberRecoverOptions& o) {
  MemberRecoverPlan p;
  const host::Host h(o.root == "/" ? "" : o.root);
  if (!pki::ValidHostName(o.name))
    return MakeError(Code::kInvalidArgument, "--name", fmt::format("bad member name '{}'", o.name));
  p.name = o.name;
  p.peer_url = o.peer_url;
  int port = 0;
  if (!o.peer_url.starts_with("https://") || !host::SplitUrl(o.peer_url, &p.ip, &port) ||
      !pki::ValidIpAddress(p.ip))
    return MakeError(Code::kInvalidArgument, "--peer-url",
                     fmt::format("'{}' is not https://IP:PORT", o.peer_url),
                     "the address this host's etcd listens on for its peers, as "
                     "https://10.0.0.4:2380");
  p.client_url = fmt::format("https://{}:2379", UrlHost(p.ip));
  p.manifest = h.manifests() + "/" + kManifestFile;
  p.stopped_dir = h.stopped_manifests();
  p.data_dir = h.data_dir();
  p.cert_dir = h.etcd_certs();
  if (!Exists(h.manifests()))
    return MakeError(Code::kFailedPrecondition, h.manifests(),
                     "no static pod manifests folder: member recover writes etcd's manifest "
                     "there for the kubelet to run",
                     "create it (the kubelet's --pod-manifest-path) or check --root");
  (void)CPR_TRY(signer::LoadRecoveryConfig(o.recovery_file));  // readable before anything

  // Where the host stands, from the survivor's member list.
  auto c = CPR_TRY(client::Client::Create(o.survivor));
  const client::MembersResponse list = CPR_TRY(c->MemberList());
  const client::Member* self = ByPeerUrl(list.members, o.peer_url);
  for (const auto& m : list.members)
    if (m.name == o.name && &m != self)
      return MakeError(
          Code::kFailedPrecondition, o.name,
          fmt::format("the name belongs to member {:x} at {}", m.id, JoinList(m.peer_urls, ",")),
          fmt::format("if that host is gone for good, remove it first (cpr member "
                      "remove {:x}), or give this host another --name",
                      m.id));
  if (self != nullptr) {
    p.member_id = self->id;
    if (self->name.empty())
      p.state = JoinState::kAdded;
    else if (self->is_learner)
      p.state = JoinState::kLearner;
    else
      p.state = JoinState::kJoined;
    if (!self->name.empty() && self->name != o.name)
      return MakeError(Code::kFailedPrecondition, o.peer_url,
                       fmt::format("the peer URL belongs to member {} ({:x}), not {}", self->name,
                                   self->id, o.name),
                       "run with --name " + self->name);
  }
  // Something answering on this host's peer URL that is not its member of
  // this cluster (an old etcd, another cluster's) would take the join.
  const bool answers = host::TcpAnswers(o.peer_url, 300);
  if (answers && self == nullptr)
    return MakeError(Code::kFailedPrecondition, o.peer_url,
                     "something already listens on this host's peer URL, and it is not a member "
                     "of this cluster",
                     "stop the etcd running on this host (an old member?) and run again");
  if (p.state == JoinState::kJoined && !answers)
    p.notes.push_back("the member is a voter but its etcd does not answer: it is started again");
  if (p.state == JoinState::kJoined && answers) p.notes.push_back("already joined: nothing to do");
  if (p.state != JoinState::kJoined && p.state != JoinState::kLearner &&
      Exists(p.data_dir + "/member"))
    p.notes.push_back(p.data_dir + " holds an old member: it is moved aside (kept)");
  p.inputs = fmt::format("{} {} {}", o.name, o.peer_url, EndpointList(o.survivor));
  return p;
}

namespace {

// The three certificates are asked for at once (each is a key made here and
// one round trip to the signer): the join waits on the slowest, not the sum.
Result<void> CertificatesStep(const MemberRecoverOptions& o, const MemberRecoverPlan& p,
                              StepContext& ctx) {
  const signer::RecoveryConfig rc = CPR_TRY(signer::LoadRecoveryConfig(o.recovery_file));
  const auto cas = CPR_TRY(pki::Certificate::AllFromPem(rc.ca_pem, o.recovery_file));
  const pki::Profile profiles[] = {pki::Profile::kPeer, pki::Profile::kServer,
                                   pki::Profile::kMetrics};
  std::vector<signer::RequestOptions> wanted;
  for (auto profile : profiles) {
    const char* what = pki::GetProfile(profile).name;
    if (UsableCertificate(p.cert_dir, profile, p.name, cas)) {
      ctx.Say(fmt::format("{} certificate already here: kept", what));
      continue;
    }
    // What is there is not a usable set (a killed run's key without its
    // certificate, an expired one): kept aside, never overwritten.
    const std::string stem = p.cert_dir + "/" + pki::GetProfile(profile).file_stem;
    for (const char* ext : {".crt", ".key"})
      if (Exists(stem + ext)) CPR_RETURN_IF_ERROR(MoveAside(stem + ext, ctx));
    signer::RequestOptions r;
    r.signer_url = rc.server;
    r.token = rc.token;
    r.ca_pem = rc.ca_pem;
    r.profile = profile;
    r.name = p.name;
    r.ips = {p.ip};
    r.out_dir = p.cert_dir;
    wanted.push_back(std::move(r));
  }
  std::vector<Result<signer::RequestResult>> got(wanted.size(), Error{});
  std::vector<std::thread> threads;
  for (size_t i = 0; i < wanted.size(); i++)
    threads.emplace_back([&, i] { got[i] = signer::RequestCertificate(wanted[i]); });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < got.size(); i++) {
    if (!got[i]) return got[i].error();
    ctx.Say(fmt::format("{} certificate {} issued until {}",
                        pki::GetProfile(wanted[i].profile).name, got[i]->info.subject.CommonName(),
                        pki::FormatTimeUtc(got[i]->info.not_after)));
  }
  return {};
}

// Adds the learner, waiting (bounded) while etcd refuses member changes for
// now; returns the cluster after the add.
Result<client::MemberAddResponse> AddLearner(client::Client& c, const MemberRecoverOptions& o,
                                             StepContext& ctx) {
  const auto deadline = Clock::now() + std::chrono::seconds(o.wait_seconds);
  bool said_learner = false, said_change = false;
  for (;;) {
    auto added = c.MemberAdd({o.peer_url}, /*learner=*/true);
    if (added) return added;
    const Error& e = added.error();
    if (TimedOut(e) || Says(e, "Peer URLs already exists")) {
      // Applied after all? The member list tells.
      auto list = c.MemberList();
      if (list)
        if (const client::Member* self = ByPeerUrl(list->members, o.peer_url)) {
          client::MemberAddResponse r;
          r.header = list->header;
          r.member = *self;
          r.members = list->members;
          return r;
        }
    }
    if (!TooManyLearners(e) && !NotReadyForChange(e) && !TimedOut(e)) return e;
    if (Clock::now() > deadline)
      return MakeError(
          Code::kUnavailable, "add-learner",
          fmt::format("etcd still refuses the member after {} s: {}", o.wait_seconds, e.what),
          "another member may be stuck joining: `cpr member list`; run again");
    if (TooManyLearners(e) && !said_learner) {
      ctx.Say("another learner is joining (etcd 3.4 admits one at a time): waiting for its turn");
      said_learner = true;
    }
    if (NotReadyForChange(e) && !said_change) {
      ctx.Say(
          "etcd allows the next member change once the newest voter has been connected for 5 s "
          "(--strict-reconfig-check): waiting");
      said_change = true;
    }
    std::this_thread::sleep_for(kRetry);
  }
}

Result<void> AddLearnerStep(const MemberRecoverOptions& o, const MemberRecoverPlan& p,
                            StepContext& ctx) {
  auto c = CPR_TRY(client::Client::Create(o.survivor));
  const client::MembersResponse list = CPR_TRY(c->MemberList());
  if (const client::Member* self = ByPeerUrl(list.members, o.peer_url)) {
    // Added earlier (by a killed run, or by hand): that member is this host's.
    ctx.Set("member_id", fmt::format("{:x}", self->id));
    ctx.Set("initial_cluster", InitialClusterOf(list.members, self->id, p.name));
    ctx.Say(
        fmt::format("already a member ({:x}{})", self->id, self->is_learner ? ", learner" : ""));
    return {};
  }
  const client::MemberAddResponse added = CPR_TRY(AddLearner(*c, o, ctx));
  // A new member: whatever data dir this host holds is another member's.
  ctx.Set("fresh_add", "yes");
  ctx.Set("member_id", fmt::format("{:x}", added.member.id));
  ctx.Set("initial_cluster", InitialClusterOf(added.members, added.member.id, p.name));
  CPR_RETURN_IF_ERROR(ctx.Save());
  ctx.Say(fmt::format("added as learner {:x}", added.member.id));
  return {};
}

Result<void> StartStep(const MemberRecoverOptions& o, const MemberRecoverPlan& p,
                       StepContext& ctx) {
  const host::Host h(o.root == "/" ? "" : o.root);
  std::string initial_cluster = ctx.Get("initial_cluster");
  if (initial_cluster.empty()) {
    auto c = CPR_TRY(client::Client::Create(o.survivor));
    const auto list = CPR_TRY(c->MemberList());
    const client::Member* self = ByPeerUrl(list.members, o.peer_url);
    if (self == nullptr)
      return MakeError(Code::kFailedPrecondition, o.peer_url, "not a member of the cluster",
                       "run again: the member is added first");
    initial_cluster = InitialClusterOf(list.members, self->id, p.name);
  }
  host::EtcdMemberSpec spec;
  spec.name = p.name;
  spec.ip = p.ip;
  int port = 2380;
  std::string ip;
  host::SplitUrl(o.peer_url, &ip, &port);
  spec.peer_port = port;
  spec.data_dir = p.data_dir;
  spec.cert_dir = p.cert_dir;
  spec.initial_cluster = initial_cluster;
  spec.initial_cluster_state = "existing";
  const std::string text = host::RenderPodManifest(host::EtcdMemberManifest(spec));
  auto current = ReadFileLimited(p.manifest, 1 << 20);
  // A data dir or manifest from an earlier life of this host (another
  // member, or this host's learner removed after a failed join) would make
  // etcd start as that member: kept aside, never deleted.
  if (ctx.Get("fresh_add") == "yes") {
    if (current) CPR_RETURN_IF_ERROR(MoveAside(p.manifest, ctx, p.stopped_dir));
    if (Exists(p.data_dir + "/member")) CPR_RETURN_IF_ERROR(MoveAside(p.data_dir, ctx));
    ctx.Set("fresh_add", "");
    CPR_RETURN_IF_ERROR(ctx.Save());
    current = MakeError(Code::kNotFound, p.manifest, "moved aside");
  }
  if (current && *current == text) {
    ctx.Say("the manifest is in place");
    return {};
  }
  CPR_RETURN_IF_ERROR(MakeDirs(p.data_dir, 0700));
  CPR_RETURN_IF_ERROR(WriteFileAtomic(p.manifest, text, 0600));
  ctx.Say(fmt::format("{} written (INITIAL_CLUSTER_STATE existing, {}): the kubelet starts it",
                      p.manifest, initial_cluster));
  return {};
}

Result<uint64_t> MemberId(StepContext& ctx) {
  uint64_t id = 0;
  if (std::sscanf(ctx.Get("member_id").c_str(), "%lx", &id) != 1 || id == 0)
    return MakeError(Code::kInternal, "journal", "no member ID recorded by add-learner",
                     "move the journal aside and run again");
  return id;
}

// True once the new member serves its client port (it has published
// itself through raft); a fresh client per look (a refused channel backs off).
bool Serves(const MemberRecoverOptions& o, const std::string& client_url) {
  client::Config c = o.survivor;
  auto eps = client::ParseEndpoints(client_url, "endpoint");
  if (!eps) return false;
  c.endpoints = *eps;
  c.dial_timeout = std::chrono::milliseconds(300);
  c.command_timeout = std::chrono::seconds(1);
  auto cl = client::Client::Create(c);
  return cl && (*cl)->Status(client_url).has_value();
}

// etcd 3.4 loses a new learner's first publish (its attributes proposal, sent
// while the snapshot from the leader is applied and the learner's peer
// connections are rebuilt) and tries again only after the request timeout,
// 7 s, before which its client port stays closed; a restart once the
// snapshot is applied publishes at once (measured: 7.05 s every time on
// first boot, 0.2 s after a restart). A learner holds no vote: restarting it
// costs the cluster nothing.
Result<void> CatchUpStep(const MemberRecoverOptions& o, const MemberRecoverPlan& p,
                         StepContext& ctx) {
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::seconds(o.wait_seconds);
  std::optional<Clock::time_point> applied;
  while (Clock::now() < deadline) {
    if (Serves(o, p.client_url)) {
      ctx.Say(fmt::format("serving after {:.2f}s",
                          std::chrono::duration<double>(Clock::now() - t0).count()));
      return {};
    }
    auto state = etcd::ReadDataDirState(p.data_dir);
    if (!applied && state && state->snap_index > 0) applied = Clock::now();
    if (applied && Clock::now() - *applied > std::chrono::milliseconds(150)) {
      // A restart is worth it while the 7 s retry is still far: it reopens
      // the backend (about a second per 512 MB) and restarts the 5 s etcd
      // waits before the next member change. Either way the promotion is
      // next: the learner is in sync once its snapshot is applied.
      if (*applied - t0 < std::chrono::seconds(3) && ctx.Get("restarted").empty()) {
        ctx.Say(
            fmt::format("the leader's snapshot (index {}) is applied but the member has not "
                        "published itself: restarting its etcd (etcd 3.4 would retry in 7 s)",
                        state ? state->snap_index : 0));
        CPR_RETURN_IF_ERROR(RestartStaticPod(p, ctx));
        ctx.Set("restarted", "yes");
      } else {
        ctx.Say("the leader's snapshot is applied; it serves once etcd publishes it");
      }
      return {};
    }
    std::this_thread::sleep_for(kRetry);
  }
  ctx.Say("not serving yet: the promotion decides (only the leader knows how far it got)");
  return {};
}

// Catch-up and promotion are one wait: only the leader knows how far the
// learner got (its raft progress), and it tells through the promotion it
// refuses until the learner is in sync. (The learner's own client port
// opens only after it has published itself through raft, which etcd 3.4
// retries only after 7 s when the first try is lost while the snapshot
// from the leader is applied: not on the way to a vote.)
Result<void> PromoteStep(const MemberRecoverOptions& o, const MemberRecoverPlan& p,
                         StepContext& ctx) {
  auto c = CPR_TRY(client::Client::Create(o.survivor));
  const uint64_t id = CPR_TRY(MemberId(ctx));
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::seconds(o.wait_seconds);
  int tries = 0;
  Error last = MakeError(Code::kUnavailable, "promote", "not tried");
  for (;;) {
    tries++;
    auto r = c->MemberPromote(id);
    if (r || NotALearner(r.error())) {  // promoted now, or by an earlier run
      ctx.Say(fmt::format("{:x} in sync and promoted to a voting member after {:.2f}s ({} tr{})",
                          id, std::chrono::duration<double>(Clock::now() - t0).count(), tries,
                          tries == 1 ? "y" : "ies"));
      return {};
    }
    last = r.error();
    if (!LearnerNotInSync(last) && !NotReadyForChange(last) && !TimedOut(last)) return last;
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(kRetry);
  }
  // Never a voter that cannot keep up: its etcd is stopped (the manifest
  // moved aside, kept) and the learner removed (it holds no vote, so the
  // cluster keeps its quorum); a re-run starts over.
  const host::Host h(o.root == "/" ? "" : o.root);
  if (Exists(p.manifest)) CPR_RETURN_IF_ERROR(MoveAside(p.manifest, ctx, p.stopped_dir));
  auto removed = c->MemberRemove(id);
  return MakeError(
      Code::kUnavailable, p.name,
      fmt::format("the learner did not catch up within {} s ({}); {}", o.wait_seconds, last.what,
                  removed ? fmt::format("learner {:x} removed again, the cluster unchanged", id)
                          : "removing the learner failed too: " + removed.error().ToString()),
      fmt::format("see etcd's log ({}/etcd-member.log where the lab runs it), fix, then run again",
                  h.pod_logs()));
}

Result<void> ReportStep(const MemberRecoverOptions& o, const MemberRecoverPlan& p,
                        StepContext& ctx) {
  const double s = CPR_TRY(
      WaitLinearizableRead(p.client_url, o.survivor.tls, std::chrono::seconds(o.wait_seconds)));
  ctx.Say(fmt::format("{} serves linearizable reads ({:.2f}s)", p.client_url, s));
  auto c = CPR_TRY(client::Client::Create(o.survivor));
  for (const auto& m : CPR_TRY(c->MemberList()).members)
    ctx.Say(fmt::format("member {:x} {} peer {} client {}{}", m.id,
                        m.name.empty() ? "(unstarted)" : m.name, JoinList(m.peer_urls, ","),
                        JoinList(m.client_urls, ","), m.is_learner ? " (learner)" : ""));
  return {};
}

}  // namespace

std::vector<Step> MemberRecoverSteps(const MemberRecoverOptions& o, const MemberRecoverPlan& p) {
  std::vector<Step> steps;
  steps.push_back({"certificates",
                   fmt::format("peer, server and metrics certificates for {} ({}) from the signer "
                               "in {} into {} (valid ones kept)",
                               p.name, p.ip, o.recovery_file, p.cert_dir),
                   [o, p](StepContext& ctx) { return CertificatesStep(o, p, ctx); }});
  steps.push_back(
      {"add-learner",
       fmt::format("add {} at {} as a learner through {} (waiting, at most {} s, for its turn)",
                   p.name, p.peer_url, EndpointList(o.survivor), o.wait_seconds),
       [o, p](StepContext& ctx) { return AddLearnerStep(o, p, ctx); }});
  steps.push_back({"start-etcd",
                   fmt::format("write {} (INITIAL_CLUSTER_STATE existing; an old data dir or "
                               "manifest moved aside): the kubelet starts it",
                               p.manifest),
                   [o, p](StepContext& ctx) { return StartStep(o, p, ctx); }});
  steps.push_back({"catch-up",
                   fmt::format("wait (at most {} s) until the learner serves; once it has applied "
                               "the leader's snapshot without publishing itself, restart it",
                               o.wait_seconds),
                   [o, p](StepContext& ctx) { return CatchUpStep(o, p, ctx); }});
  steps.push_back({"promote",
                   fmt::format("promote the learner once the leader counts it in sync (its "
                               "catch-up; at most {} s, else its etcd is stopped and the "
                               "learner removed)",
                               o.wait_seconds),
                   [o, p](StepContext& ctx) { return PromoteStep(o, p, ctx); }});
  steps.push_back({"report", "a linearizable read on the new member; print the member table",
                   [o, p](StepContext& ctx) { return ReportStep(o, p, ctx); }});
  return steps;
}

Result<ProcedureReport> MemberRecover(const MemberRecoverOptions& o, bool dry_run,
                                      MemberRecoverPlan* plan_out, ProcedureReport* report) {
  const MemberRecoverPlan plan = CPR_TRY(PlanMemberRecover(o));
  if (plan_out != nullptr) *plan_out = plan;
  std::vector<Step> steps = MemberRecoverSteps(o, plan);
  // Nothing to do on a joined host, unless a killed run left its journal:
  // its remaining steps (each finds its work done) finish it.
  const std::string state_dir = host::Host(o.root == "/" ? "" : o.root).state();
  if (plan.state == JoinState::kJoined && host::TcpAnswers(plan.peer_url, 300) &&
      !Exists(state_dir + "/journal/" + kProcedure + ".json"))
    steps.clear();
  ProcedureOptions po;
  po.procedure = kProcedure;
  po.state_dir = state_dir;
  po.inputs = plan.inputs;
  po.dry_run = dry_run;
  po.out = o.out;
  // Every step looks at the cluster before it acts: a run after a finished
  // one only finds the work done.
  po.again = true;
  // A resume looks again at every step (each finds what is done and skips
  // it): a learner removed after a failed catch-up must be added anew.
  po.redo_all = true;
  if (steps.empty()) {
    ProcedureReport r;
    r.procedure = kProcedure;
    r.ok = true;
    if (report != nullptr) *report = r;
    return r;
  }
  return RunProcedure(steps, po, report);
}

}  // namespace cpr::procedures
