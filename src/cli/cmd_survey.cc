// `cpr survey [--root R]... | --lab D`: the masters' data dirs side by side,
// and the one to restore quorum on (procedures/survey.h).
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "lab/lab.h"
#include "procedures/survey.h"

namespace cpr::cli {
namespace {

struct SurveyFlags {
  std::vector<std::string> roots;
  std::string lab;
  std::string runtime = "auto";
  std::string pid_file;
  std::string format = "table";
};

std::string Hex(uint64_t v) { return fmt::format("{:x}", v); }

Json HostJson(const procedures::SurveyHost& h) {
  Json j{{"name", h.name}, {"root", h.root}, {"data_dir", h.data_dir}};
  if (!h.state) {
    j["error"] = h.state.error().ToString();
    return j;
  }
  const etcd::DataDirState& s = *h.state;
  j["member_id"] = Hex(s.member_id);
  j["member_name"] = s.member_name;
  j["cluster_id"] = Hex(s.cluster_id);
  j["wal_last_index"] = s.last_index;
  j["wal_last_term"] = s.last_term;
  j["commit"] = s.commit;
  j["term"] = s.hard_term;
  j["snapshot_index"] = s.snap_index;
  j["consistent_index"] = s.consistent_index;
  j["revision"] = s.revision;
  j["compact_revision"] = s.compact_revision;
  j["members"] = s.members;
  j["etcd_running"] = s.etcd_running;
  j["notes"] = s.notes;
  return j;
}

void PrintTable(const procedures::SurveyReport& r) {
  Table t({"HOST", "MEMBER", "CLUSTER", "LAST TERM", "LAST INDEX", "COMMIT", "APPLIED", "REVISION",
           "SNAPSHOT", "ETCD"});
  for (const auto& h : r.hosts) {
    if (!h.state) {
      t.Add({h.name, "-", "-", "-", "-", "-", "-", "-", "-", h.state.error().what});
      continue;
    }
    const etcd::DataDirState& s = *h.state;
    t.Add({h.name, s.member_name.empty() ? Hex(s.member_id) : s.member_name, Hex(s.cluster_id),
           std::to_string(s.last_term), std::to_string(s.last_index), std::to_string(s.commit),
           std::to_string(s.consistent_index), std::to_string(s.revision),
           std::to_string(s.snap_index), s.etcd_running ? "running" : "stopped"});
  }
  t.Print(std::cout);
  for (const auto& h : r.hosts)
    if (h.state)
      for (const auto& n : h.state->notes) std::cout << h.name << ": " << n << '\n';
  if (!r.best.empty()) std::cout << "restore quorum on " << r.best << ": " << r.why << '\n';
}

Result<bool> RunSurvey(const SurveyFlags& f) {
  Format format;
  if (!ParseFormat(f.format, &format) || format == Format::kRaw)
    return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + f.format + "'",
                     "use table, json or yaml");
  if (f.roots.empty() == f.lab.empty())
    return MakeError(Code::kInvalidArgument, "--root/--lab", "give the hosts' roots or a lab",
                     "cpr survey --root /mnt/m1 --root /mnt/m2 ..., or --lab DIR");
  host::RuntimeOptions ro;
  if (!host::ParseRuntimeKind(f.runtime, &ro.kind))
    return MakeError(Code::kInvalidArgument, "--runtime", "unknown runtime '" + f.runtime + "'",
                     "use auto, static-pod, systemd or process");
  ro.pid_file = f.pid_file;
  std::vector<procedures::SurveyTarget> targets;
  if (!f.lab.empty()) {
    const lab::Lab lab = CPR_TRY(lab::Load(f.lab));
    for (const auto& h : lab.hosts) targets.push_back({h.name, h.root});
  } else {
    for (const auto& r : f.roots) targets.push_back({r, r});
  }
  const procedures::SurveyReport r = procedures::Survey(targets, ro);
  for (const auto& w : r.warnings) std::cerr << "warning: " << w << '\n';
  if (format == Format::kTable) {
    PrintTable(r);
  } else {
    Json hosts = Json::array();
    for (const auto& h : r.hosts) hosts.push_back(HostJson(h));
    const Json j{{"best", r.best}, {"why", r.why}, {"hosts", hosts}};
    format == Format::kJson ? PrintJson(std::cout, j) : PrintYaml(std::cout, j);
  }
  if (r.best.empty())
    return MakeError(Code::kNotFound, "survey", "no host's data dir could be read",
                     "check --root (each host's root, as mounted here) or --runtime");
  return true;
}

}  // namespace

void AddSurveyCommand(CLI::App& app, RunState& state) {
  static SurveyFlags f;
  auto* cmd = app.add_subcommand(
      "survey",
      "Read every master's etcd data dir offline (WAL, snapshot, db) side by side and name the "
      "one to restore quorum on");
  cmd->add_option("--root", f.roots, "A host's root (repeat per host; default layout under it)");
  cmd->add_option("--lab", f.lab, "Every host of a `cpr lab`");
  cmd->add_option("--runtime", f.runtime,
                  "How each host runs etcd: auto, static-pod, systemd, "
                  "process (where its data dir is configured)")
      ->capture_default_str();
  cmd->add_option("--pid-file", f.pid_file,
                  "With --runtime process: etcd's PID file under each root");
  AddWriteOut(cmd, &f.format, "Output: table, json or yaml");
  cmd->callback([&state] {
    auto r = RunSurvey(f);
    if (!r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
