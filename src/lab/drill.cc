#include "lab/drill.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "client/client.h"
#include "host/host.h"
#include "host/probe.h"
#include "lab/lab.h"
#include "pki/cert.h"
#include "pki/csr.h"
#include "pki/inventory.h"
#include "pki/key.h"
#include "pki/kube_pki.h"
#include "pki/regenerate.h"
#include "pki/verify.h"
#include "procedures/backup.h"
#include "procedures/member_recover.h"
#include "procedures/restore_host.h"
#include "procedures/serving.h"
#include "procedures/survey.h"
#include "recovery/client.h"
#include "recovery/kubeconfig.h"
#include "recovery/serve.h"
#include "signer/client.h"
#include "signer/server.h"
#include "signer/token_store.h"
#include "util/atomic_file.h"
#include "util/bytes.h"
#include "util/process.h"
#include "util/protowire.h"

namespace cpr::lab {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using KvMap = std::map<std::string, std::string>;

constexpr const char* kPrefix = "/registry/";

std::string Field(int number, const std::string& bytes) {
  std::string out;
  AppendBytesField(out, static_cast<uint32_t>(number), bytes);
  return out;
}

// A value in the API server's storage format (docs/k8s-values.md): the
// `k8s\0` envelope around runtime.Unknown{TypeMeta, raw object} whose
// object starts with its ObjectMeta (name, namespace, uid).
std::string K8sValue(const std::string& api, const std::string& kind, const std::string& ns,
                     const std::string& name, std::mt19937_64& rng, size_t size) {
  std::string payload(size, '\0');
  for (auto& c : payload) c = static_cast<char>('a' + rng() % 26);
  const std::string uid = fmt::format("{:016x}-{:04x}", rng(), rng() % 0xffff);
  const std::string meta = Field(1, name) + Field(3, ns) + Field(5, uid);
  const std::string raw = Field(1, meta) + Field(2, payload);
  return std::string("k8s\0", 4) + Field(1, Field(1, api) + Field(2, kind)) + Field(2, raw);
}

// About `mb` MB of Kubernetes-like objects, written in transactions of 100;
// returns every object of the cluster.
Result<KvMap> LoadData(client::Client& c, int mb, uint64_t seed) {
  struct Kind {
    const char* resource;
    const char* api;
    const char* kind;
  };
  static const Kind kKinds[] = {{"configmaps", "v1", "ConfigMap"},
                                {"secrets", "v1", "Secret"},
                                {"pods", "v1", "Pod"},
                                {"deployments", "apps/v1", "Deployment"},
                                {"services/specs", "v1", "Service"},
                                {"events", "v1", "Event"}};
  std::mt19937_64 rng(seed);
  KvMap data;
  uint64_t total = 0;
  client::TxnRequest txn;
  for (int i = 0; total < static_cast<uint64_t>(mb) << 20; i++) {
    const Kind& k = kKinds[i % std::size(kKinds)];
    const std::string ns = fmt::format("ns-{:02}", i % 20);
    const std::string name = fmt::format("{}-{:06}", k.kind, i);
    const std::string key = fmt::format("{}{}/{}/{}", kPrefix, k.resource, ns, name);
    std::string value = K8sValue(k.api, k.kind, ns, name, rng, 512 + rng() % 7680);
    total += value.size();
    txn.success.push_back(client::PutRequest{key, value});
    data[key] = std::move(value);
    if (txn.success.size() == 100) {
      CPR_TRY(c.Txn(txn));
      txn.success.clear();
    }
  }
  if (!txn.success.empty()) CPR_TRY(c.Txn(txn));
  // The lab's Node objects (lab.h) are part of the cluster's data too.
  client::RangeRequest nodes;
  nodes.key = std::string(kPrefix) + "minions/";
  nodes.range_end = client::PrefixEnd(nodes.key);
  for (auto& kv : CPR_TRY(c.Range(nodes)).kvs) data[kv.key] = std::move(kv.value);
  return data;
}

Result<KvMap> ReadAll(client::Client& c, bool serializable) {
  client::RangeRequest r;
  r.key = kPrefix;
  r.range_end = client::PrefixEnd(r.key);
  r.serializable = serializable;
  KvMap out;
  for (auto& kv : CPR_TRY(c.Range(r)).kvs) out[kv.key] = std::move(kv.value);
  return out;
}

// "2000 keys equal" or what differs.
std::string Compare(const KvMap& got, const KvMap& want, bool* ok) {
  size_t missing = 0, extra = 0, wrong = 0;
  std::string example;
  for (const auto& [k, v] : want) {
    auto it = got.find(k);
    if (it == got.end()) {
      if (missing++ == 0 && example.empty()) example = "missing " + k;
    } else if (it->second != v) {
      if (wrong++ == 0 && example.empty()) example = "other value at " + k;
    }
  }
  for (const auto& [k, v] : got)
    if (!want.count(k) && extra++ == 0 && example.empty()) example = "unexpected " + k;
  *ok = missing == 0 && extra == 0 && wrong == 0;
  if (*ok) return fmt::format("{} keys, every value equal to the backup's", want.size());
  return fmt::format("{} missing, {} unexpected, {} with other values (e.g. {})", missing, extra,
                     wrong, example);
}

std::unique_ptr<client::Client> Connect(const Lab& lab, const std::vector<std::string>& urls) {
  client::Config cfg;
  for (const auto& u : urls)
    if (auto ep = client::ParseEndpoint(u, "endpoint")) cfg.endpoints.push_back(*ep);
  cfg.tls = {lab.CaCert(), lab.AdminCert(), lab.AdminKey()};
  cfg.command_timeout = std::chrono::seconds(30);
  auto c = client::Client::Create(cfg);
  return c ? std::move(*c) : nullptr;
}

class Drill {
 public:
  explicit Drill(const DrillOptions& o) : o_(o), t0_(Clock::now()) {}

  Result<DrillResult> Run() {
    CPR_RETURN_IF_ERROR(MakeDirs(o_.dir, 0700));
    Json scenarios = Json::array();
    scenarios.push_back(QuorumLoss());
    scenarios.push_back(PreviousState());
    scenarios.push_back(NoUsableBackup());
    scenarios.push_back(ExpiredCertificates());
    bool ok = true;
    for (const auto& s : scenarios) ok = ok && s.value("ok", false);
    Json doc{{"ok", ok}, {"mb", o_.mb}, {"seconds", Now()}, {"scenarios", scenarios}};
    DrillResult r;
    r.ok = ok;
    r.json = doc.dump();
    r.table = Table(doc);
    if (!o_.report_html.empty())
      CPR_RETURN_IF_ERROR(WriteFileAtomic(o_.report_html, DrillReportHtml(r.json), 0644));
    return r;
  }

 private:
  double Now() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  void Say(const std::string& line) const {
    if (o_.out) o_.out("[drill] " + line);
  }

  // One phase: runs fn, records its time and (for a procedure) its steps.
  template <class Fn>
  bool Phase(Json& scenario, const std::string& name, Fn fn) {
    if (!scenario["ok"].get<bool>()) return false;  // a failed phase ends the scenario
    Say(scenario["name"].get<std::string>() + ": " + name);
    Json phase{{"name", name}, {"start", Now()}, {"steps", Json::array()}};
    Result<std::string> r = fn(phase);
    phase["seconds"] = Now() - phase["start"].get<double>();
    phase["ok"] = r.has_value();
    phase["detail"] = r ? *r : r.error().ToString();
    if (!r) {
      scenario["ok"] = false;
      Say("  FAILED: " + r.error().ToString());
    } else if (!r->empty()) {
      Say("  " + *r);
    }
    scenario["phases"].push_back(phase);
    return r.has_value();
  }

  void Check(Json& scenario, const std::string& name, bool ok, const std::string& detail) {
    scenario["checks"].push_back({{"name", name}, {"ok", ok}, {"detail", detail}});
    Say(fmt::format("  check {}: {} ({})", name, ok ? "ok" : "FAILED", detail));
    if (!ok) scenario["ok"] = false;
  }

  static void AddSteps(Json& phase, const procedures::ProcedureReport& r, double offset,
                       const std::string& host = "") {
    for (const auto& s : r.steps)
      phase["steps"].push_back({{"name", s.name},
                                {"host", host},
                                {"start", offset + s.start},
                                {"seconds", s.seconds},
                                {"state", s.state}});
  }

  // restore-quorum as a phase: its steps on the timeline; `serving_at` is
  // when its wait-serving step ended.
  Result<std::string> RestoreQuorum(Json& phase, procedures::RestoreHostOptions ro,
                                    double killed_at, double* serving_at) {
    ro.mode = procedures::RestoreMode::kQuorum;
    ro.out = [this](const std::string& line) { Say("    " + line); };
    procedures::ProcedureReport report;
    const double start = Now();
    auto r = procedures::RestoreHost(ro, false, nullptr, &report);
    AddSteps(phase, report, start);
    CPR_RETURN_IF_ERROR(r ? Result<void>() : Result<void>(r.error()));
    for (const auto& st : report.steps)
      if (st.name == "wait-serving") *serving_at = start + st.start + st.seconds;
    return fmt::format("kill -> serving {:.2f}s", *serving_at - killed_at);
  }

  Json NewScenario(const std::string& name, const std::string& title) {
    return Json{{"name", name},
                {"title", title},
                {"ok", true},
                {"phases", Json::array()},
                {"checks", Json::array()}};
  }

  Result<procedures::BackupResult> TakeBackup(const Lab& lab, const LabHost& from,
                                              const std::string& dir) {
    auto c = Connect(lab, {from.ClientUrl()});
    if (!c) return MakeError(Code::kInternal, "drill", "no client");
    procedures::BackupOptions bo;
    bo.dir = dir;
    bo.resources = host::Host(from.root).resources();
    return procedures::Backup(*c, bo, {}, nullptr);
  }

  Json QuorumLoss() {
    Json s = NewScenario("quorum-loss",
                         "Seed §3.2: two of three masters lost; quorum restored on the survivor");
    const std::string dir = o_.dir + "/quorum-loss";
    Lab lab;
    KvMap want;
    procedures::BackupResult backup;
    double killed_at = 0, serving_at = 0;
    Phase(s, "lab up: 3 masters, etcd 3.4 with mutual TLS", [&](Json&) -> Result<std::string> {
      lab = CPR_TRY(Up({dir + "/lab", 3, o_.self, 60}));
      return fmt::format("{} ({}, ...)", lab.InitialCluster().substr(0, 60), lab.block);
    });
    Phase(s, fmt::format("write {} MB of Kubernetes objects", o_.mb),
          [&](Json&) -> Result<std::string> {
            auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
            want = CPR_TRY(LoadData(*c, o_.mb, 1));
            return fmt::format("{} objects", want.size());
          });
    Phase(s, "cpr backup from m2", [&](Json&) -> Result<std::string> {
      backup = CPR_TRY(TakeBackup(lab, lab.hosts[1], dir + "/backups"));
      return fmt::format("{} at revision {}", backup.snapshot.name, backup.revision);
    });
    Phase(s, "writes after the backup (lost with the masters)", [&](Json&) -> Result<std::string> {
      auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
      for (int i = 0; i < 20; i++)
        CPR_TRY(c->Put({fmt::format("{}after/k{:02}", kPrefix, i), "written after the backup"}));
      CPR_TRY(c->DeleteRange({want.begin()->first, "", false}));
      return std::string("20 puts, 1 delete");
    });
    Phase(s, "disaster: m2 and m3 lose power", [&](Json&) -> Result<std::string> {
      CPR_RETURN_IF_ERROR(Kill(lab.dir, "m2"));
      CPR_RETURN_IF_ERROR(Kill(lab.dir, "m3"));
      killed_at = Now();
      return std::string("m1 alone: no quorum");
    });
    Phase(s, "cpr restore-quorum on m1", [&](Json& phase) -> Result<std::string> {
      procedures::RestoreHostOptions ro;
      ro.root = lab.hosts[0].root;
      ro.backup = dir + "/backups";
      ro.initial_cluster = lab.hosts[0].name + "=" + lab.hosts[0].PeerUrl();
      return RestoreQuorum(phase, ro, killed_at, &serving_at);
    });
    s["rto_seconds"] = serving_at > 0 ? serving_at - killed_at : -1;
    Phase(s, "check the data on m1", [&](Json&) -> Result<std::string> {
      auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
      bool ok = false;
      const std::string detail = Compare(CPR_TRY(ReadAll(*c, false)), want, &ok);
      Check(s, "every key and value of the backup, nothing written after it", ok, detail);
      const auto members = CPR_TRY(c->MemberList());
      Check(s, "one member, m1", members.members.size() == 1 && members.members[0].name == "m1",
            fmt::format("{} member(s)", members.members.size()));
      client::RangeRequest one;
      one.key = kPrefix;
      const auto r = CPR_TRY(c->Range(one));
      Check(s, "revision moved past the backup's (clients relist)",
            r.header.revision > backup.revision,
            fmt::format("{} > {}", r.header.revision, backup.revision));
      return std::string();
    });
    Phase(s, "fencing: old m2 boots again", [&](Json&) -> Result<std::string> {
      CPR_RETURN_IF_ERROR(Start(lab.dir, "m2", o_.self));
      // The old member starts on its old data and knocks at m1; bounded wait
      // until m1's log shows it refused (cluster ID mismatch).
      const std::string log = host::Host(lab.hosts[0].root).pod_logs() + "/etcd-member.log";
      const std::string log2 = host::Host(lab.hosts[1].root).pod_logs() + "/etcd-member.log";
      bool refused = false;
      for (int i = 0; i < 200 && !refused; i++) {
        for (const auto& path : {log, log2}) {
          std::ifstream in(path);
          std::string line;
          while (std::getline(in, line))
            if (line.find("cluster ID mismatch") != std::string::npos) refused = true;
        }
        if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
      const auto members = CPR_TRY(c->MemberList());
      bool ok = false;
      Compare(CPR_TRY(ReadAll(*c, false)), want, &ok);
      Check(s, "the old member is refused (cluster ID mismatch), m1 alone and intact",
            refused && members.members.size() == 1 && ok,
            refused ? "mismatch logged; m1 still serves the backup's data"
                    : "no cluster ID mismatch seen in 10 s");
      CPR_RETURN_IF_ERROR(Kill(lab.dir, "m2"));
      return std::string();
    });
    if (!lab.hosts.empty()) GrowBack(s, lab, dir, lab.hosts[0], want, killed_at);
    if (o_.baseline_etcdctl) Baseline(s, backup);
    if (!lab.dir.empty() && !o_.keep) (void)Down(lab.dir);
    return s;
  }

  Json PreviousState() {
    Json s =
        NewScenario("previous-state",
                    "Seed §3.3: a prefix deleted by accident; every master restored to the backup");
    const std::string dir = o_.dir + "/previous-state";
    Lab lab;
    KvMap want;
    Phase(s, "lab up: 3 masters", [&](Json&) -> Result<std::string> {
      lab = CPR_TRY(Up({dir + "/lab", 3, o_.self, 60}));
      return lab.block + ".0/24";
    });
    Phase(s, fmt::format("write {} MB of Kubernetes objects", o_.mb),
          [&](Json&) -> Result<std::string> {
            auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
            want = CPR_TRY(LoadData(*c, o_.mb, 2));
            return fmt::format("{} objects", want.size());
          });
    Phase(s, "cpr backup from m1", [&](Json&) -> Result<std::string> {
      const auto b = CPR_TRY(TakeBackup(lab, lab.hosts[0], dir + "/backups"));
      return fmt::format("{} at revision {}", b.snapshot.name, b.revision);
    });
    Phase(s, "accident: every ConfigMap deleted", [&](Json&) -> Result<std::string> {
      auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
      const std::string p = std::string(kPrefix) + "configmaps/";
      const auto d = CPR_TRY(c->DeleteRange({p, client::PrefixEnd(p), false}));
      return fmt::format("{} keys deleted", d.deleted);
    });
    Phase(s, "cpr restore-cluster on every master", [&](Json& phase) -> Result<std::string> {
      procedures::RestoreHostOptions ro;
      ro.mode = procedures::RestoreMode::kCluster;
      ro.backup = dir + "/backups";
      ro.initial_cluster = lab.InitialCluster();
      ro.out = [this](const std::string& line) { Say("    " + line); };
      std::vector<std::string> roots;
      for (const auto& h : lab.hosts) roots.push_back(h.root);
      const double start = Now();
      const auto runs = CPR_TRY(procedures::RestoreClusterHosts(ro, roots, false));
      for (const auto& run : runs) {
        AddSteps(phase, run.report, start, run.plan.name);
        CPR_RETURN_IF_ERROR(run.result);
      }
      return fmt::format("{} masters", runs.size());
    });
    Phase(s, "check the data on every member", [&](Json&) -> Result<std::string> {
      std::vector<uint32_t> hashes;
      for (const auto& h : lab.hosts) {
        auto c = Connect(lab, {h.ClientUrl()});
        bool ok = false;
        const std::string detail = Compare(CPR_TRY(ReadAll(*c, true)), want, &ok);
        Check(s, h.name + ": every key and value of the backup", ok, detail);
        hashes.push_back(CPR_TRY(c->HashKV(h.ClientUrl(), 0)).hash);
      }
      bool same = true;
      for (uint32_t x : hashes) same = same && x == hashes[0];
      Check(s, "hashkv equal on every member", same, fmt::format("{:08x}", hashes[0]));
      auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
      Check(s, "three members", CPR_TRY(c->MemberList()).members.size() == 3, "member list");
      return std::string();
    });
    if (!lab.dir.empty() && !o_.keep) (void)Down(lab.dir);
    return s;
  }

  // Seed §3.2 steps 2-5: two fresh hosts join the survivor, each with
  // `member recover` (in parallel: etcd takes them one learner at a time)
  // and certificates from a temporary signer on the survivor, stopped after.
  // (`survivor` by value: `lab` is reloaded as hosts join.)
  // cppcheck-suppress passedByValue
  void GrowBack(Json& s, Lab& lab, const std::string& dir, const LabHost survivor,
                const KvMap& want, double killed_at) {
    const std::string state = dir + "/signer";
    std::vector<LabHost> added;
    Phase(s, "two fresh hosts: cpr lab add m4 m5", [&](Json&) -> Result<std::string> {
      for (const char* n : {"m4", "m5"}) added.push_back(CPR_TRY(AddHost(lab.dir, n, o_.self)));
      lab = CPR_TRY(Load(lab.dir));
      return fmt::format("{} {}, {} {}", added[0].name, added[0].ip, added[1].name, added[1].ip);
    });
    std::vector<std::string> recovery;
    Phase(s, "cpr signer serve on the survivor, one member token per new host",
          [&](Json&) -> Result<std::string> {
            CPR_RETURN_IF_ERROR(signer::CreateStateDir(state));
            const std::string listen = survivor.ip + ":9943";
            CPR_TRY(SpawnDetached({o_.self,
                                   {o_.self, "signer", "serve", "--pki", lab.pki, "--listen",
                                    listen, "--state", state},
                                   std::nullopt,
                                   "",
                                   dir + "/signer.log"}));
            std::optional<signer::RunningSigner> running;
            for (int i = 0; i < 600 && !running; i++) {
              auto r = signer::FindRunningSigner(state);
              if (r && *r) running = **r;
              if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            if (!running)
              return MakeError(Code::kUnavailable, "signer", "did not start",
                               "see " + dir + "/signer.log");
            const std::string ca = CPR_TRY(ReadFileLimited(running->ca_file, 1 << 20));
            signer::TokenStore tokens(state);
            const int64_t now = static_cast<int64_t>(std::time(nullptr));
            for (const auto& h : added) {
              const auto t = CPR_TRY(
                  tokens.Issue(h.name, {h.ip}, signer::kMemberProfile, now, running->expires));
              const std::string file = dir + "/" + h.name + ".recovery";
              CPR_RETURN_IF_ERROR(WriteFileAtomic(
                  file, signer::RenderRecoveryConfig({running->url, ca, t.token, h.name}), 0600));
              recovery.push_back(file);
            }
            return running->url;
          });
    double grown_at = 0;
    Phase(s, "cpr member recover on m4 and m5 at once", [&](Json& phase) -> Result<std::string> {
      std::vector<procedures::ProcedureReport> reports(added.size());
      std::vector<Result<procedures::ProcedureReport>> results(added.size(), Error{});
      std::vector<std::thread> threads;
      const double start = Now();
      for (size_t i = 0; i < added.size(); i++)
        threads.emplace_back([&, i] {
          procedures::MemberRecoverOptions mo;
          mo.root = added[i].root;
          mo.name = added[i].name;
          mo.peer_url = added[i].PeerUrl();
          mo.recovery_file = recovery[i];
          mo.wait_seconds = 120;
          mo.survivor.endpoints = {*client::ParseEndpoint(survivor.ClientUrl(), "endpoint")};
          mo.survivor.tls = {lab.CaCert(), lab.AdminCert(), lab.AdminKey()};
          const std::string who = added[i].name;
          mo.out = [this, who](const std::string& line) { Say("    " + who + " " + line); };
          results[i] = procedures::MemberRecover(mo, false, nullptr, &reports[i]);
        });
      for (auto& t : threads) t.join();
      for (size_t i = 0; i < added.size(); i++) {
        AddSteps(phase, reports[i], start, added[i].name);
        if (!results[i]) return results[i].error();
      }
      grown_at = Now();
      return fmt::format("kill -> three voting members {:.2f}s", grown_at - killed_at);
    });
    (void)signer::StopSigner(state);
    s["full_strength_seconds"] = grown_at > 0 ? grown_at - killed_at : -1;
    Phase(
        s, "check three voting members, the same data on each", [&](Json&) -> Result<std::string> {
          auto c = Connect(lab, {survivor.ClientUrl()});
          const auto members = CPR_TRY(c->MemberList()).members;
          int voters = 0;
          for (const auto& m : members) voters += m.is_learner ? 0 : 1;
          Check(s, "three voting members (survivor, m4, m5)", members.size() == 3 && voters == 3,
                fmt::format("{} members, {} voting", members.size(), voters));
          std::vector<uint32_t> hashes;
          for (const LabHost* h : std::vector<const LabHost*>{&survivor, &added[0], &added[1]}) {
            auto hc = Connect(lab, {h->ClientUrl()});
            bool ok = false;
            const std::string detail = Compare(CPR_TRY(ReadAll(*hc, true)), want, &ok);
            Check(s, h->name + ": the same data", ok, detail);
            hashes.push_back(CPR_TRY(hc->HashKV(h->ClientUrl(), 0)).hash);
          }
          Check(s, "hashkv equal on the three members",
                hashes[0] == hashes[1] && hashes[1] == hashes[2], fmt::format("{:08x}", hashes[0]));
          auto running = signer::FindRunningSigner(state);
          Check(s, "the temporary signer is stopped", running && !*running, state);
          return std::string();
        });
  }

  // Scenario 3: no usable backup. Writes after the last backup, the
  // majority lost; `survey` names the host holding the most recent state
  // and restore-quorum --from-data-dir keeps every write it had.
  Json NoUsableBackup() {
    Json s = NewScenario("no-usable-backup",
                         "Quorum lost with writes made after the last backup: quorum from the "
                         "survivor's own data, then grown back to three");
    const std::string dir = o_.dir + "/no-usable-backup";
    Lab lab;
    KvMap want;
    double killed_at = 0, serving_at = 0;
    std::string best;
    Phase(s, "lab up: 3 masters", [&](Json&) -> Result<std::string> {
      lab = CPR_TRY(Up({dir + "/lab", 3, o_.self, 60}));
      return lab.block + ".0/24";
    });
    Phase(s, fmt::format("write {} MB of Kubernetes objects, cpr backup from m1", o_.mb),
          [&](Json&) -> Result<std::string> {
            auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
            want = CPR_TRY(LoadData(*c, o_.mb, 3));
            const auto b = CPR_TRY(TakeBackup(lab, lab.hosts[0], dir + "/backups"));
            return fmt::format("{} objects; {} at revision {}", want.size(), b.snapshot.name,
                               b.revision);
          });
    Phase(s, "m3 dies; 200 writes after the backup on m1 and m2",
          [&](Json&) -> Result<std::string> {
            CPR_RETURN_IF_ERROR(Kill(lab.dir, "m3"));
            auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
            for (int i = 0; i < 200; i++) {
              const std::string k = fmt::format("{}late/k{:03}", kPrefix, i);
              CPR_TRY(c->Put({k, "written after the last backup"}));
              want[k] = "written after the last backup";
            }
            for (int i = 0; i < 10; i++) {
              CPR_TRY(c->DeleteRange({want.begin()->first, "", false}));
              want.erase(want.begin());
            }
            return std::string("200 puts, 10 deletes");
          });
    Phase(s, "disaster: m1 and m2 lose power", [&](Json&) -> Result<std::string> {
      CPR_RETURN_IF_ERROR(Kill(lab.dir, "m1"));
      CPR_RETURN_IF_ERROR(Kill(lab.dir, "m2"));
      killed_at = Now();
      return std::string("no master runs");
    });
    Phase(s, "cpr survey: which master holds the most recent state",
          [&](Json&) -> Result<std::string> {
            std::vector<procedures::SurveyTarget> targets;
            for (const auto& h : lab.hosts) targets.push_back({h.name, h.root});
            const auto report = procedures::Survey(targets, {});
            best = report.best;
            Check(s, "survey names m1 or m2 (m3 died before the last writes)",
                  best == "m1" || best == "m2", best + ": " + report.why);
            if (best.empty()) return MakeError(Code::kFailedPrecondition, "survey", report.why);
            return best + ": " + report.why;
          });
    const LabHost* survivor = nullptr;
    Phase(s, "cpr restore-quorum --from-data-dir on the survivor",
          [&](Json& phase) -> Result<std::string> {
            survivor = lab.Find(best);
            CPR_RETURN_IF_ERROR(Start(lab.dir, best, o_.self));  // it boots, alone
            procedures::RestoreHostOptions ro;
            ro.from_data_dir = true;
            ro.root = survivor->root;
            ro.initial_cluster = survivor->name + "=" + survivor->PeerUrl();
            return RestoreQuorum(phase, ro, killed_at, &serving_at);
          });
    s["rto_seconds"] = serving_at > 0 ? serving_at - killed_at : -1;
    Phase(s, "check every write, those after the backup included",
          [&](Json&) -> Result<std::string> {
            auto c = Connect(lab, {survivor->ClientUrl()});
            bool ok = false;
            const std::string detail = Compare(CPR_TRY(ReadAll(*c, false)), want, &ok);
            Check(s, "every key and value the survivor had, none lost", ok, detail);
            return std::string();
          });
    if (survivor != nullptr) GrowBack(s, lab, dir, *survivor, want, killed_at);
    if (!lab.dir.empty() && !o_.keep) (void)Down(lab.dir);
    return s;
  }

  // Scenario 4 (seed §3.4): the control plane's certificates expired while
  // the cluster was down. `certs check` names them, `certs regenerate`
  // re-issues them from the CA, the static pods restart, and the kubelets
  // of the workers re-bootstrap through the recovery API: `kubeconfig
  // recover`, `csr request` on each worker, `csr approve --policy nodes`,
  // with rogue requests left pending.
  Json ExpiredCertificates() {
    Json s = NewScenario("expired-certificates",
                         "Seed §3.4: control-plane certificates expired while the cluster was "
                         "down; regenerated, static pods restarted, kubelets re-bootstrapped "
                         "through CSRs the node policy approves");
    const std::string dir = o_.dir + "/expired-certificates";
    const std::string api_state = dir + "/recovery-api";
    Lab lab;
    KvMap want;
    double failed_at = 0;
    Phase(s, "lab up: 3 masters, 2 workers (Node objects in etcd)",
          [&](Json&) -> Result<std::string> {
            UpOptions uo{dir + "/lab", 3, o_.self, 60};
            uo.workers = 2;
            lab = CPR_TRY(Up(uo));
            return fmt::format("{} masters, workers {} {}", lab.hosts.size(), lab.workers[0].name,
                               lab.workers[1].name);
          });
    Phase(s, fmt::format("write {} MB of Kubernetes objects", o_.mb),
          [&](Json&) -> Result<std::string> {
            auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
            want = CPR_TRY(LoadData(*c, o_.mb, 4));
            return fmt::format("{} objects", want.size());
          });
    int64_t not_after = 0;
    Phase(s, "the cluster stops; its certificates, re-issued to expire in 3 s, expire",
          [&](Json&) -> Result<std::string> {
            for (const auto& h : lab.hosts) CPR_RETURN_IF_ERROR(Stop(lab.dir, h.name));
            // While it is down, every leaf (members' and the admin's) gets a
            // 3-second lifetime: the disaster, made without a clock change.
            for (const auto& paths : LeafPaths(lab)) {
              pki::RegenerateOptions ro = RegenerateFor(lab, paths);
              ro.warn_seconds = 400LL * 86400;  // the leaves (a year), not the CAs (ten)
              ro.leaf_validity = 3;
              const auto report = CPR_TRY(pki::Regenerate(ro, false));
              for (const auto& a : report.actions) {
                if (a.kind != pki::RegenerateKind::kReissue)
                  return MakeError(Code::kInternal, a.path,
                                   std::string("unexpected: ") + pki::RegenerateKindName(a.kind));
                not_after = std::max(not_after, a.new_not_after);
              }
            }
            while (std::time(nullptr) <= not_after)
              std::this_thread::sleep_for(std::chrono::milliseconds(100));
            return fmt::format("every leaf expired at {}", not_after);
          });
    Phase(s, "the masters boot: etcd refuses every TLS connection",
          [&](Json&) -> Result<std::string> {
            std::vector<std::pair<std::string, size_t>> logs;
            for (const auto& h : lab.hosts) {
              const std::string log = host::Host(h.root).pod_logs() + "/etcd-member.log";
              std::error_code ec;
              const auto size = std::filesystem::file_size(log, ec);
              logs.emplace_back(log, ec ? 0 : size);
              CPR_RETURN_IF_ERROR(Start(lab.dir, h.name, o_.self));
            }
            int expired_lines = 0;
            for (int i = 0; i < 300 && expired_lines == 0; i++) {
              for (const auto& [log, from] : logs)
                expired_lines += CountLines(log, from, "certificate has expired");
              if (expired_lines == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            auto read = procedures::WaitLinearizableRead(
                lab.hosts[0].ClientUrl(), {lab.CaCert(), lab.AdminCert(), lab.AdminKey()},
                std::chrono::seconds(2));
            Check(s, "a start fails on TLS: the members log expired certificates, no read succeeds",
                  expired_lines > 0 && !read,
                  fmt::format("{} 'certificate has expired' log lines; read: {}", expired_lines,
                              read ? "succeeded" : read.error().what.substr(0, 80)));
            return std::string();
          });
    Phase(s, "cpr certs check on every master", [&](Json&) -> Result<std::string> {
      int named = 0;
      for (const auto& h : lab.hosts) {
        pki::CheckOptions co;
        co.paths = {host::Host(h.root).etcd_certs()};
        const auto report = CPR_TRY(pki::CheckCertificates(co));
        std::set<std::string> expired;
        for (const auto& c : report.certs)
          if (c.status == pki::CertStatus::kExpired)
            expired.insert(std::filesystem::path(c.found.path).filename().string());
        named += static_cast<int>(expired.size());
        Check(s, h.name + ": certs check names peer, server and metrics as expired",
              expired == std::set<std::string>{"peer.crt", "server.crt", "metric.crt"} &&
                  !report.ok(),
              fmt::format("expired: {}", fmt::join(expired, ", ")));
      }
      failed_at = Now();  // the administrator starts from here
      return fmt::format("{} expired certificates named", named);
    });
    Phase(s, "cpr certs regenerate on every master (and the admin's)",
          [&](Json& phase) -> Result<std::string> {
            int reissued = 0;
            const auto paths = LeafPaths(lab);
            for (size_t i = 0; i < paths.size(); i++) {
              const double start = Now();
              const auto report = CPR_TRY(pki::Regenerate(RegenerateFor(lab, paths[i]), false));
              reissued += static_cast<int>(report.actions.size());
              AddStep(phase, "certs regenerate", i < lab.hosts.size() ? lab.hosts[i].name : "admin",
                      start);
            }
            for (const auto& h : lab.hosts) {
              pki::CheckOptions co;
              co.paths = {host::Host(h.root).etcd_certs()};
              co.ca_files = {lab.CaCert(), lab.pki + "/metric-ca.crt"};
              const auto report = CPR_TRY(pki::CheckCertificates(co));
              Check(s, h.name + ": certs check passes after regenerate", report.ok(),
                    fmt::format("{} certificates", report.certs.size()));
            }
            return fmt::format("{} certificates re-issued from the CAs", reissued);
          });
    Phase(s, "static pods restarted; etcd serves on every master",
          [&](Json& phase) -> Result<std::string> {
            for (const auto& h : lab.hosts) {
              const double start = Now();
              CPR_RETURN_IF_ERROR(Stop(lab.dir, h.name));
              CPR_RETURN_IF_ERROR(Start(lab.dir, h.name, o_.self));
              AddStep(phase, "restart static pods", h.name, start);
            }
            for (const auto& h : lab.hosts)
              CPR_TRY(procedures::WaitLinearizableRead(
                  h.ClientUrl(), {lab.CaCert(), lab.AdminCert(), lab.AdminKey()},
                  std::chrono::seconds(60)));
            return std::string("3 members serve linearizable reads");
          });
    std::string url, admin;
    Phase(
        s, "cpr recovery-api serve on m1 (node inventory from etcd), cpr kubeconfig recover",
        [&](Json&) -> Result<std::string> {
          const LabHost& m1 = lab.hosts[0];
          CPR_TRY(SpawnDetached(
              {o_.self,
               {o_.self, "recovery-api", "serve", "--pki", lab.pki, "--listen", m1.ip + ":9444",
                "--state", api_state, "--nodes-from-etcd", "--endpoints", m1.ClientUrl(),
                "--cacert", lab.CaCert(), "--cert", lab.AdminCert(), "--key", lab.AdminKey()},
               std::nullopt,
               "",
               dir + "/recovery-api.log"}));
          std::optional<recovery::RunningApi> running;
          for (int i = 0; i < 1500 && !running; i++) {
            running = recovery::FindRunningApi(api_state);
            if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          if (!running)
            return MakeError(Code::kUnavailable, "recovery-api", "did not start",
                             "see " + dir + "/recovery-api.log");
          url = running->url;
          const std::string started = CPR_TRY(ReadFileLimited(dir + "/recovery-api.log", 1 << 20));
          const std::string known = fmt::format("nodes={} (0 from -, {} from etcd)",
                                                lab.hosts.size() + lab.workers.size(),
                                                lab.hosts.size() + lab.workers.size());
          Check(s, "the recovery API knows every Node object of etcd (masters and workers)",
                started.find(known) != std::string::npos, known);
          admin = dir + "/admin.kubeconfig";
          const int64_t now = std::time(nullptr);
          const auto k = CPR_TRY(recovery::AdminKubeconfig(lab.pki, url, 86400, now));
          CPR_RETURN_IF_ERROR(WriteFileAtomic(admin, recovery::RenderKubeconfig(k), 0600));
          for (const auto& w : lab.workers) {
            const auto b = CPR_TRY(recovery::BootstrapKubeconfig(lab.pki, url, w.name, 3600, now));
            CPR_RETURN_IF_ERROR(
                WriteFileAtomic(BootstrapPath(w), recovery::RenderKubeconfig(b), 0600));
          }
          return url + "; admin and bootstrap kubeconfigs written";
        });
    Phase(s, "kubelets re-bootstrap (cpr csr request on w1, w2); cpr csr approve --policy nodes",
          [&](Json& phase) -> Result<std::string> { return Rebootstrap(s, phase, lab, admin); });
    s["certificates_recovered_seconds"] =
        failed_at > 0 && s["ok"].get<bool>() ? Now() - failed_at : -1;
    (void)recovery::StopApi(api_state);
    Phase(s, "check the cluster: 3 members, the same data on each",
          [&](Json&) -> Result<std::string> {
            std::vector<uint32_t> hashes;
            for (const auto& h : lab.hosts) {
              auto c = Connect(lab, {h.ClientUrl()});
              bool ok = false;
              const std::string detail = Compare(CPR_TRY(ReadAll(*c, true)), want, &ok);
              Check(s, h.name + ": every key and value written before the disaster", ok, detail);
              hashes.push_back(CPR_TRY(c->HashKV(h.ClientUrl(), 0)).hash);
            }
            Check(s, "hashkv equal on every member",
                  hashes[0] == hashes[1] && hashes[1] == hashes[2],
                  fmt::format("{:08x}", hashes[0]));
            auto c = Connect(lab, {lab.hosts[0].ClientUrl()});
            Check(s, "three members", CPR_TRY(c->MemberList()).members.size() == 3, "member list");
            return std::string();
          });
    if (!lab.dir.empty() && !o_.keep) (void)Down(lab.dir);
    return s;
  }

  // A step of the scenario's own (not a journaled procedure's) on the timeline.
  void AddStep(Json& phase, const std::string& name, const std::string& host, double start) const {
    phase["steps"].push_back({{"name", name},
                              {"host", host},
                              {"start", start},
                              {"seconds", Now() - start},
                              {"state", "done"}});
  }

  static std::string BootstrapPath(const LabHost& worker) {
    return worker.root + "/etc/kubernetes/bootstrap.kubeconfig";
  }

  // The certificate folders the scenario ages and regenerates: each
  // master's etc/ssl/etcd, and the admin's certificate.
  static std::vector<std::string> LeafPaths(const Lab& lab) {
    std::vector<std::string> out;
    for (const auto& h : lab.hosts) out.push_back(host::Host(h.root).etcd_certs());
    out.push_back(lab.AdminCert());
    return out;
  }

  // `cpr certs regenerate PATH --ca ca.crt --ca-key ca.key --ca metric-ca.crt --ca-key ...`
  static pki::RegenerateOptions RegenerateFor(const Lab& lab, const std::string& path) {
    pki::RegenerateOptions ro;
    ro.paths = {path};
    ro.signers = {{lab.CaCert(), lab.pki + "/ca.key"},
                  {lab.pki + "/metric-ca.crt", lab.pki + "/metric-ca.key"}};
    ro.backup_dir = lab.dir + "/replaced-certificates/" +
                    std::filesystem::path(path).parent_path().parent_path().filename().string() +
                    "-" + std::to_string(std::time(nullptr)) + "-" +
                    std::to_string(regenerations_++);
    return ro;
  }

  // Lines of `path` past byte `from` that contain `needle`.
  static int CountLines(const std::string& path, size_t from, const std::string& needle) {
    std::ifstream in(path);
    in.seekg(static_cast<std::streamoff>(from));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) n += line.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }

  // Each worker's kubelet bootstrap as its own process (`cpr csr request`,
  // waiting for its certificate), two rogue requests beside them, and one
  // `cpr csr approve --policy nodes` by the administrator.
  Result<std::string> Rebootstrap(Json& s, Json& phase, const Lab& lab, const std::string& admin) {
    std::vector<std::thread> kubelets;
    std::vector<Result<CommandResult>> exits(lab.workers.size(), Error{});
    std::vector<double> ended(lab.workers.size(), 0);
    const double start = Now();
    for (size_t i = 0; i < lab.workers.size(); i++)
      kubelets.emplace_back([&, i] {
        const LabHost& w = lab.workers[i];
        exits[i] =
            RunCommand({o_.self, "csr", "request", "--kubeconfig", BootstrapPath(w), "--node",
                        w.name, "--dir", w.root + "/var/lib/kubelet/pki", "--timeout", "120"},
                       std::chrono::seconds(150));
        ended[i] = Now();
      });
    auto join = [&] {
      for (auto& t : kubelets)
        if (t.joinable()) t.join();
    };
    auto result = ApproveAndCheck(s, phase, lab, admin);
    join();
    for (size_t i = 0; i < lab.workers.size(); i++)
      phase["steps"].push_back(
          {{"name", "csr request (until issued)"},
           {"host", lab.workers[i].name},
           {"start", start},
           {"seconds", ended[i] - start},
           {"state", exits[i] && exits[i]->exit_code == 0 ? "done" : "failed"}});
    CPR_RETURN_IF_ERROR(result ? Result<void>() : Result<void>(result.error()));
    for (size_t i = 0; i < lab.workers.size(); i++) {
      const LabHost& w = lab.workers[i];
      const auto& e = exits[i];
      if (!e || e->exit_code != 0)
        return MakeError(Code::kInternal, w.name, "cpr csr request failed",
                         e ? e->output : e.error().ToString());
      const auto cert =
          CPR_TRY(pki::ReadCertificates(w.root + "/var/lib/kubelet/pki/kubelet-client.crt"));
      const auto ca =
          CPR_TRY(pki::ReadCertificates(pki::KubePkiPaths{lab.pki}.KubeletClientCa() + ".crt"));
      pki::VerifyOptions vo;
      vo.purpose = "clientAuth";
      vo.at_time = std::time(nullptr);
      auto verified = pki::VerifyChain(cert[0], ca, {}, vo);
      Check(s, w.name + ": its new client certificate verifies against the kubelet client CA",
            verified && cert[0].Info().subject.CommonName() == "system:node:" + w.name,
            verified ? cert[0].Info().subject.CommonName() : verified.error().what);
    }
    return *result;
  }

  // Waits until every worker's CSR is posted, posts the rogues, approves
  // with the node policy and checks what it did.
  Result<std::string> ApproveAndCheck(Json& s, Json& phase, const Lab& lab,
                                      const std::string& admin) {
    auto api = CPR_TRY(recovery::ApiClient::Connect(CPR_TRY(k8s::LoadKubeconfig(admin))));
    // The rogues: a node nobody knows, and a known node's client CSR with a SAN.
    auto rogue = CPR_TRY(
        recovery::ApiClient::Connect(CPR_TRY(k8s::LoadKubeconfig(BootstrapPath(lab.workers[0])))));
    const std::vector<std::pair<std::string, pki::CsrSpec>> rogues = {
        {"rogue-unknown-node",
         {pki::Name::Of("system:node:intruder", {"system:nodes"}), {}, {}, {}, false}},
        {"rogue-extra-san",
         {pki::Name::Of("system:node:" + lab.workers[1].name, {"system:nodes"}),
          {"evil.example"},
          {},
          {},
          false}}};
    for (const auto& [name, spec] : rogues) {
      const auto key = CPR_TRY(pki::PrivateKey::Generate({}));
      recovery::Csr c;
      c.name = name;
      c.request = CPR_TRY(pki::CertRequest::Create(key, spec)).ToPem();
      c.signer_name = pki::kKubeletClientSigner;
      c.usages = {"digital signature", "key encipherment", "client auth"};
      CPR_TRY(rogue.Create(c));
    }
    // Every kubelet's CSR posted (bounded: they start at once).
    std::set<std::string> kubelet_csrs;
    for (int i = 0; i < 600 && kubelet_csrs.size() < lab.workers.size(); i++) {
      kubelet_csrs.clear();
      for (const auto& c : CPR_TRY(api.List("", nullptr)))
        if (c.name.starts_with("node-csr-")) kubelet_csrs.insert(c.name);
      if (kubelet_csrs.size() < lab.workers.size())
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (kubelet_csrs.size() < lab.workers.size())
      return MakeError(Code::kUnavailable, "csr request",
                       "the kubelets' CSRs did not appear in 60 s");
    const double approve_start = Now();
    const auto approve = CPR_TRY(RunCommand(
        {o_.self, "csr", "approve", "--policy", "nodes", "--kubeconfig", admin, "-w", "json"},
        std::chrono::seconds(60)));
    AddStep(phase, "csr approve --policy nodes", "admin", approve_start);
    if (approve.exit_code != 0)
      return MakeError(Code::kInternal, "cpr csr approve", "failed", approve.output);
    std::set<std::string> approved;
    for (const auto& c : CPR_TRY(api.List("", nullptr))) {
      if (recovery::HasCondition(c, "Approved")) approved.insert(c.name);
    }
    Check(s, "csr approve --policy nodes approved exactly the kubelets' CSRs",
          approved == kubelet_csrs, fmt::format("approved: {}", fmt::join(approved, ", ")));
    for (const auto& [name, spec] : rogues) {
      const auto c = CPR_TRY(api.Get(name));
      auto why = c.annotations.find(recovery::kPolicyAnnotation);
      Check(s, name + " stays pending, with the reason",
            recovery::ConditionText(c) == "Pending" && why != c.annotations.end(),
            why == c.annotations.end() ? recovery::ConditionText(c) : why->second);
    }
    return fmt::format("{} kubelet CSRs approved and issued, {} rogue CSRs left pending",
                       approved.size(), rogues.size());
  }

  // The same backup restored and started the etcdctl way (the seed's
  // scripts): etcdctl snapshot restore, etcd start, first read. Three runs
  // (a one-member etcd's first election takes a random 0.1-1 s).
  void Baseline(Json& s, const procedures::BackupResult& backup) {
    Json runs = Json::array();
    for (int i = 0; i < 3; i++) {
      const std::string d = o_.dir + "/baseline";
      std::error_code ec;
      std::filesystem::remove_all(d, ec);  // the baseline's own data dir
      auto [c, p] = FreePorts();
      const std::string peer = fmt::format("http://127.0.0.1:{}", p);
      const std::string client = fmt::format("http://127.0.0.1:{}", c);
      const auto t = Clock::now();
      const std::string restore = fmt::format(
          "ETCDCTL_API=3 /usr/bin/etcdctl snapshot restore '{}' --data-dir '{}' --name b "
          "--initial-cluster b={} --initial-advertise-peer-urls {} >/dev/null 2>&1",
          backup.snapshot.path, d, peer, peer);
      if (std::system(restore.c_str()) != 0) return;
      const pid_t pid = ::fork();
      if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::execlp("etcd", "etcd", "--name", "b", "--data-dir", d.c_str(), "--listen-client-urls",
                 client.c_str(), "--advertise-client-urls", client.c_str(), "--listen-peer-urls",
                 peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster",
                 ("b=" + peer).c_str(), nullptr);
        ::_exit(127);
      }
      auto served = procedures::WaitLinearizableRead(client, {}, std::chrono::seconds(30));
      const double secs = std::chrono::duration<double>(Clock::now() - t).count();
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      std::filesystem::remove_all(d, ec);
      if (served) runs.push_back(secs);
    }
    if (!runs.empty())
      s["baseline"] = {{"what", "etcdctl snapshot restore + etcd start + first read"},
                       {"seconds", runs}};
  }

  static std::pair<int, int> FreePorts() {
    std::random_device rd;
    for (;;) {
      const int c = 20000 + static_cast<int>(rd() % 20000);
      if (!host::TcpAnswers(fmt::format("http://127.0.0.1:{}", c), 50) &&
          !host::TcpAnswers(fmt::format("http://127.0.0.1:{}", c + 1), 50))
        return {c, c + 1};
    }
  }

  static std::string Table(const Json& doc) {
    std::string out = fmt::format("{:<15} {:<50} {:>8} {:>8}  {}\n", "SCENARIO", "PHASE / STEP",
                                  "START", "SECONDS", "RESULT");
    for (const auto& s : doc["scenarios"]) {
      for (const auto& p : s["phases"]) {
        out += fmt::format("{:<15} {:<50} {:>8.2f} {:>8.2f}  {}\n", s["name"].get<std::string>(),
                           p["name"].get<std::string>().substr(0, 50), p["start"].get<double>(),
                           p["seconds"].get<double>(), p["ok"].get<bool>() ? "ok" : "FAILED");
        for (const auto& st : p["steps"])
          out += fmt::format(
              "{:<15}   {:<48} {:>8.2f} {:>8.2f}  {}\n", "",
              (st["host"].get<std::string>().empty() ? "" : st["host"].get<std::string>() + " ") +
                  st["name"].get<std::string>(),
              st["start"].get<double>(), st["seconds"].get<double>(),
              st["state"].get<std::string>());
      }
      for (const auto& c : s["checks"])
        out += fmt::format("{:<15} check: {} -- {} ({})\n", s["name"].get<std::string>(),
                           c["name"].get<std::string>(), c["ok"].get<bool>() ? "ok" : "FAILED",
                           c["detail"].get<std::string>());
      if (s.contains("rto_seconds") && s["rto_seconds"].get<double>() >= 0) {
        out += fmt::format("{:<15} recovery (kill -> serving): {:.2f}s",
                           s["name"].get<std::string>(), s["rto_seconds"].get<double>());
        if (s.contains("baseline")) {
          std::string b;
          for (const auto& x : s["baseline"]["seconds"])
            b += (b.empty() ? "" : ", ") + fmt::format("{:.2f}s", x.get<double>());
          out += "; etcdctl restore+start of the same backup: " + b;
        }
        out += "\n";
      }
      if (s.contains("certificates_recovered_seconds") &&
          s["certificates_recovered_seconds"].get<double>() >= 0)
        out += fmt::format(
            "{:<15} certificate recovery (certs check -> every kubelet certified): {:.2f}s\n",
            s["name"].get<std::string>(), s["certificates_recovered_seconds"].get<double>());
    }
    out += fmt::format("drill {} in {:.1f}s\n", doc["ok"].get<bool>() ? "PASSED" : "FAILED",
                       doc["seconds"].get<double>());
    return out;
  }

  const DrillOptions& o_;
  const Clock::time_point t0_;
  static inline int regenerations_ = 0;
};

}  // namespace

Result<DrillResult> RunDrill(const DrillOptions& options) { return Drill(options).Run(); }

}  // namespace cpr::lab
