// `cpr lab up|status|kill|start|add|down`: a lab of master hosts on this
// machine (lab/lab.h), for tests, the drill and benchmarks. `cpr lab runner`
// is the hosts' kubelet stand-in, started by the lab itself.
#include <fmt/format.h>
#include <unistd.h>

#include <climits>
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "lab/lab.h"
#include "lab/runner.h"
#include "pki/lifetime.h"

namespace cpr::cli {
namespace {

struct LabFlags {
  std::string dir, host, root, format = "table", cert_validity;
  int masters = 3, workers = 0;
};

Result<Format> LabFormat(const LabFlags& f) {
  Format out;
  if (!ParseFormat(f.format, &out) || out == Format::kRaw)
    return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + f.format + "'",
                     "use table or json");
  return out;
}

void PrintLab(const lab::Lab& l, Format format) {
  if (format == Format::kJson) {
    std::cout << l.ToJson() << '\n';
    return;
  }
  Table t({"HOST", "IP", "CLIENT URL", "PEER URL", "ROOT"});
  for (const auto& h : l.hosts) t.Add({h.name, h.ip, h.ClientUrl(), h.PeerUrl(), h.root});
  for (const auto& w : l.workers) t.Add({w.name, w.ip, "- (worker)", "-", w.root});
  t.Print(std::cout);
  std::cout << fmt::format(
      "lab in {}; etcdctl --endpoints {} --cacert {} --cert {} --key {} member list\n", l.dir,
      l.hosts.empty() ? "" : l.hosts[0].ClientUrl(), l.CaCert(), l.AdminCert(), l.AdminKey());
}

Result<void> RunUp(const LabFlags& f) {
  const Format format = CPR_TRY(LabFormat(f));
  lab::UpOptions o;
  o.dir = f.dir;
  o.masters = f.masters;
  o.workers = f.workers;
  if (!f.cert_validity.empty())
    o.cert_validity_seconds = CPR_TRY(pki::ParseLifetime(f.cert_validity, "--cert-validity"));
  o.self = SelfExe();
  PrintLab(CPR_TRY(lab::Up(o)), format);
  return {};
}

Result<void> RunStatus(const LabFlags& f) {
  const Format format = CPR_TRY(LabFormat(f));
  const auto hosts = CPR_TRY(lab::Status(f.dir));
  if (format == Format::kJson) {
    Json j = Json::array();
    for (const auto& h : hosts)
      j.push_back({{"name", h.name},
                   {"ip", h.ip},
                   {"up", h.runner},
                   {"pods", h.pods},
                   {"running", h.running},
                   {"etcd_answers", h.etcd_answers}});
    PrintJson(std::cout, Json{{"hosts", j}});
    return {};
  }
  Table t({"HOST", "IP", "UP", "ETCD", "PODS RUNNING"});
  for (const auto& h : hosts) {
    std::string running;
    for (const auto& p : h.running) running += (running.empty() ? "" : ", ") + p;
    t.Add({h.name, h.ip, h.runner ? "yes" : "no", h.etcd_answers ? "answers" : "-",
           fmt::format("{}/{} {}", h.running.size(), h.pods.size(), running)});
  }
  t.Print(std::cout);
  return {};
}

}  // namespace

void AddLabCommand(CLI::App& app, RunState& state) {
  static LabFlags f;
  auto* lab = app.add_subcommand(
      "lab",
      "A lab of master hosts on this machine (127.0.0.0/8 addresses, real etcd 3.4 with mutual "
      "TLS, a kubelet stand-in per host): for tests, the drill and benchmarks");
  lab->require_subcommand(1);
  auto dir = [&](CLI::App* c) { c->add_option("--dir", f.dir, "The lab's folder")->required(); };
  auto run = [&state](CLI::App* c, std::function<Result<void>()> fn) {
    c->callback([&state, fn] {
      auto r = fn();
      if (!r) state.exit_code = ReportError(r.error());
    });
  };

  auto* up = lab->add_subcommand(
      "up",
      "Create hosts m1..mN, each a root under DIR with its own loopback address, and start "
      "their etcd members; waits until every member serves. Workers w1..wN (no etcd) and the "
      "masters are registered as Node objects in etcd (/registry/minions/), as a cluster has them");
  dir(up);
  StrictInt(up->add_option("--masters", f.masters, "How many master hosts"), 1, 9)
      ->capture_default_str();
  StrictInt(up->add_option("--workers", f.workers,
                           "How many worker hosts (a root and an address each, no etcd): the "
                           "kubelets of the expired-certificate recovery (`cpr csr request`)"),
            0, 9)
      ->capture_default_str();
  up->add_option("--cert-validity", f.cert_validity,
                 "Lifetime of the members' and admin certificates (e.g. 30s: the "
                 "expired-certificate disaster); default a year");
  AddWriteOut(up, &f.format, "table or json");
  run(up, [] { return RunUp(f); });

  auto* status = lab->add_subcommand("status", "Each host: up or not, its pods, etcd answering");
  dir(status);
  AddWriteOut(status, &f.format, "table or json");
  run(status, [] { return RunStatus(f); });

  auto* kill = lab->add_subcommand(
      "kill", "HOST dies as in a power loss: its runner and every pod SIGKILLed");
  dir(kill);
  kill->add_option("host", f.host, "m1, m2, ...")->required();
  run(kill, [] { return lab::Kill(f.dir, f.host); });

  auto* start = lab->add_subcommand(
      "start", "HOST boots again: its runner starts whatever manifests are in its folder");
  dir(start);
  start->add_option("host", f.host, "m1, m2, ...")->required();
  run(start, [] { return lab::Start(f.dir, f.host, SelfExe()); });

  auto* add = lab->add_subcommand(
      "add", "A fresh empty host NAME (root, address, runner; no etcd) joins the lab");
  dir(add);
  add->add_option("host", f.host, "The new host's name")->required();
  AddWriteOut(add, &f.format, "table or json");
  run(add, []() -> Result<void> {
    const Format format = CPR_TRY(LabFormat(f));
    const lab::LabHost h = CPR_TRY(lab::AddHost(f.dir, f.host, SelfExe()));
    lab::Lab one = CPR_TRY(lab::Load(f.dir));
    one.hosts = {h};
    PrintLab(one, format);
    return Result<void>();
  });

  auto* down =
      lab->add_subcommand("down", "Stop every process the lab started (by PID) and remove DIR");
  dir(down);
  run(down, [] { return lab::Down(f.dir); });

  auto* runner = lab->add_subcommand(
      "runner", "The kubelet stand-in of one lab host (started by the lab; runs until SIGTERM)");
  runner->group("");  // hidden: the lab starts it
  runner->add_option("--root", f.root, "The host's root")->required();
  runner->callback([&state] { state.exit_code = lab::RunRunner(f.root); });
}

}  // namespace cpr::cli
