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
#include <thread>

#include "client/client.h"
#include "host/host.h"
#include "host/probe.h"
#include "lab/lab.h"
#include "procedures/backup.h"
#include "procedures/member_recover.h"
#include "procedures/restore_host.h"
#include "procedures/serving.h"
#include "procedures/survey.h"
#include "signer/client.h"
#include "signer/server.h"
#include "signer/token_store.h"
#include "util/atomic_file.h"
#include "util/bytes.h"
#include "util/process.h"

namespace cpr::lab {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using KvMap = std::map<std::string, std::string>;

constexpr const char* kPrefix = "/registry/";

std::string Field(int number, const std::string& bytes) {
  std::string out;
  AppendUvarint(out, static_cast<uint64_t>(number) << 3 | 2);
  AppendUvarint(out, bytes.size());
  return out + bytes;
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

// About `mb` MB of Kubernetes-like objects, written in transactions of 100.
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
  return data;
}

Result<KvMap> ReadAll(client::Client& c, bool serializable) {
  client::RangeRequest r;
  r.key = kPrefix;
  r.range_end = "/registry0";  // the prefix's end: '/' + 1
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
      const auto d = CPR_TRY(c->DeleteRange({p, p.substr(0, p.size() - 1) + "0", false}));
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
    }
    out += fmt::format("drill {} in {:.1f}s\n", doc["ok"].get<bool>() ? "PASSED" : "FAILED",
                       doc["seconds"].get<double>());
    return out;
  }

  const DrillOptions& o_;
  const Clock::time_point t0_;
};

}  // namespace

Result<DrillResult> RunDrill(const DrillOptions& options) { return Drill(options).Run(); }

}  // namespace cpr::lab
