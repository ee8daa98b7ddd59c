// `cpr restore-quorum` and `cpr restore-cluster`: seed §3.2 step 1 and §3.3
// as one command per master (procedures/restore_host.h). Flags into
// options, one library call, the step report through a printer.
#include <fmt/format.h>

#include <iostream>
#include <mutex>

#include "cli/command.h"
#include "cli/output.h"
#include "cli/procedure_output.h"
#include "lab/lab.h"
#include "procedures/restore_host.h"

namespace cpr::cli {
namespace {

struct RestoreFlags {
  procedures::RestoreHostOptions o;
  std::string runtime = "auto";
  bool dry_run = false;
  bool no_bump = false;
  std::string format = "table";
  std::string lab;
  std::vector<std::string> hosts;
};

std::mutex g_out;

void Progress(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_out);
  std::cerr << line << '\n';
}

Json PlanJson(const procedures::RestoreHostPlan& p) {
  Json fenced = Json::array();
  for (const auto& f : p.fenced)
    fenced.push_back({{"member", f.name}, {"url", f.url}, {"answers", f.answers}});
  return Json{{"member", p.name},
              {"runtime", p.runtime ? p.runtime->kind() : ""},
              {"peer_url", p.peer_url},
              {"client_url", p.client_url},
              {"data_dir", p.data_dir},
              {"backup", p.backup.snapshot},
              {"stamp", p.backup.stamp},
              {"resources", p.backup.resources},
              {"backup_sha256", p.backup_sha256},
              {"skipped_backups", p.skipped_backups},
              {"backup_revision", p.backup_revision},
              {"bump", p.bump},
              {"token", p.token},
              {"fencing", fenced},
              {"notes", p.notes}};
}

void PrintReport(const std::string& host, const procedures::RestoreHostPlan& plan,
                 const procedures::ProcedureReport& r, bool dry_run) {
  PrintProcedureReport(
      std::cout, host,
      fmt::format("member {}, runtime {}", plan.name, plan.runtime ? plan.runtime->kind() : "?"), r,
      dry_run);
  for (const auto& n : plan.notes) std::cout << "note: " << n << '\n';
  for (const auto& s : plan.skipped_backups) std::cout << "skipped backup " << s << '\n';
}

Result<Format> RestoreFormat(const RestoreFlags& f) {
  Format format;
  if (!ParseFormat(f.format, &format) || format == Format::kRaw)
    return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + f.format + "'");
  return format;
}

// The procedure on this host (--root), its report printed.
Result<void> RunThisHost(const RestoreFlags& f, const char* procedure, Format format) {
  procedures::RestoreHostPlan plan;
  procedures::ProcedureReport report;
  auto r = procedures::RestoreHost(f.o, f.dry_run, &plan, &report);
  if (format == Format::kJson) {
    Json j{{"procedure", procedure},    {"ok", r.has_value()},       {"dry_run", f.dry_run},
           {"seconds", report.seconds}, {"journal", report.journal}, {"plan", PlanJson(plan)},
           {"steps", StepsJson(report)}};
    if (!r) j["error"] = r.error().ToString();
    PrintJson(std::cout, j);
  } else if (!report.steps.empty()) {
    PrintReport("", plan, report, f.dry_run);
  }
  return r ? Result<void>() : Result<void>(r.error());
}

Result<void> RuntimeFlag(RestoreFlags& f) {
  if (!host::ParseRuntimeKind(f.runtime, &f.o.runtime.kind))
    return MakeError(Code::kInvalidArgument, "--runtime", "unknown runtime '" + f.runtime + "'",
                     "static-pod, systemd, process or auto");
  return {};
}

Result<void> RunQuorum(RestoreFlags& f) {
  const Format format = CPR_TRY(RestoreFormat(f));
  if (f.o.from_data_dir && f.o.initial_cluster.empty()) std::swap(f.o.backup, f.o.initial_cluster);
  if (f.o.initial_cluster.empty() || (f.o.backup.empty() && !f.o.from_data_dir))
    return MakeError(Code::kInvalidArgument, "BACKUP INITIAL_CLUSTER",
                     f.o.from_data_dir ? "INITIAL_CLUSTER is required"
                                       : "both are required (or --from-data-dir INITIAL_CLUSTER)",
                     "see `cpr restore-quorum --help`");
  CPR_RETURN_IF_ERROR(RuntimeFlag(f));
  f.o.mode = procedures::RestoreMode::kQuorum;
  f.o.bump = !f.no_bump;
  f.o.out = Progress;
  return RunThisHost(f, "restore-quorum", format);
}

Result<void> RunCluster(RestoreFlags& f) {
  const Format format = CPR_TRY(RestoreFormat(f));
  CPR_RETURN_IF_ERROR(RuntimeFlag(f));
  f.o.mode = procedures::RestoreMode::kCluster;
  f.o.bump = !f.no_bump;
  f.o.out = Progress;
  std::vector<std::string> roots = f.hosts;
  if (!f.lab.empty()) {
    const lab::Lab l = CPR_TRY(lab::Load(f.lab));
    for (const auto& h : l.hosts) roots.push_back(h.root);
  }
  if (roots.empty()) return RunThisHost(f, "restore-cluster", format);
  const auto runs = CPR_TRY(procedures::RestoreClusterHosts(f.o, roots, f.dry_run));
  Json hosts = Json::array();
  const Result<void>* failed = nullptr;
  for (const auto& run : runs) {
    if (!run.result && failed == nullptr) failed = &run.result;
    if (format == Format::kJson) {
      Json j{{"root", run.root},
             {"ok", run.result.has_value()},
             {"plan", PlanJson(run.plan)},
             {"steps", StepsJson(run.report)}};
      if (!run.result) j["error"] = run.result.error().ToString();
      hosts.push_back(j);
    } else {
      PrintReport(run.plan.name, run.plan, run.report, f.dry_run);
    }
  }
  if (format == Format::kJson)
    PrintJson(std::cout, Json{{"procedure", "restore-cluster"},
                              {"ok", failed == nullptr},
                              {"backup_sha256", runs.empty() ? "" : runs[0].plan.backup_sha256},
                              {"hosts", hosts}});
  return failed == nullptr ? Result<void>() : Result<void>(failed->error());
}

// restore-quorum's BACKUP is absent with --from-data-dir: both positionals
// are optional there and sorted out in RunQuorum.
void CommonFlags(CLI::App* c, RestoreFlags& f, bool backup_optional = false) {
  auto* backup = c->add_option(
      "backup", f.o.backup,
      "Backup folder (snapshot_<stamp>.db + static_kuberesources_<stamp>.tar.gz, paired "
      "by backup_<stamp>.json), a legacy snapshot_db_kuberesources_<stamp>.tar.gz, or a "
      "snapshot file");
  auto* ic = c->add_option("initial_cluster", f.o.initial_cluster,
                           "INITIAL_CLUSTER: name=https://ip:2380,... naming this host's member at "
                           "its own peer URL");
  if (!backup_optional) {
    backup->required();
    ic->required();
  }
  c->add_option("--root", f.o.root, "The master's root (its /etc/kubernetes, /var/lib/etcd, ...)")
      ->capture_default_str();
  c->add_option("--runtime", f.runtime,
                "What runs etcd: static-pod (the manifests folder), systemd (etcd.service, "
                "/etc/default/etcd), process (--pid-file), or auto: the first of these found")
      ->capture_default_str();
  c->add_option("--pid-file", f.o.runtime.pid_file,
                "The process runtime: the file (under --root) holding etcd's PID");
  c->add_option("--stamp", f.o.stamp, "Which backup of the folder (default: the newest pair)");
  c->add_flag("--fallback", f.o.fallback,
              "When the chosen backup does not verify, take the newest that does (and say which)");
  c->add_flag("--no-bump", f.no_bump,
              "Keep the backup's revisions (default: bump them past anything clients saw and "
              "mark them compacted, so watchers relist)");
  StrictInt(c->add_option("--wait", f.o.wait_seconds,
                          "Seconds to wait for the member to serve a linearizable read"),
            1, 3600)
      ->capture_default_str();
  c->add_flag("--dry-run", f.dry_run, "Print the plan (every check made) and change nothing");
  c->add_flag("--again", f.o.again,
              "Run although the same restore already finished on this host (it would restore "
              "the backup once more, over what was written since)");
  AddWriteOut(c, &f.format, "table or json");
}

}  // namespace

void AddRestoreQuorumCommand(CLI::App& app, RunState& state) {
  static RestoreFlags f;
  auto* c = app.add_subcommand(
      "restore-quorum",
      "Seed §3.2 step 1 on the surviving master: restore the backup (or with --from-data-dir "
      "its own data) as a one-member cluster "
      "(old members fenced, pods stopped, old data dir kept, revisions bumped), start it, wait "
      "until it serves");
  CommonFlags(c, f, /*backup_optional=*/true);
  c->add_flag("--from-data-dir", f.o.from_data_dir,
              "No backup: quorum from this host's own data dir, every write it had committed "
              "(WAL entries past its db included; etcd runs once on a copy, 127.0.0.1 only, to "
              "apply them). `cpr survey` names the host to run it on");
  c->add_option("--etcd-binary", f.o.etcd_binary,
                "--from-data-dir: the etcd to apply the WAL with (default: etcd in PATH; the "
                "member's version)");
  c->add_flag("--force", f.o.force,
              "Restore even though an old member answers, or the backup looks like another "
              "cluster's");
  c->footer(
      "Steps: restore-db, stop-pods, swap-data-dir, restore-resources, start-pods, "
      "wait-serving, report (stop-etcd and start-etcd, without restore-resources, where systemd "
      "or a process runs etcd). Journaled under ROOT/var/lib/cpr/journal: killed and run again "
      "with the same arguments, it resumes.");
  c->callback([&state] {
    auto r = RunQuorum(f);
    if (!r) state.exit_code = ReportError(r.error());
  });
}

void AddRestoreClusterCommand(CLI::App& app, RunState& state) {
  static RestoreFlags f;
  auto* c = app.add_subcommand(
      "restore-cluster",
      "Seed §3.3 on every master: the same backup and INITIAL_CLUSTER everywhere; the members "
      "start together and form quorum");
  CommonFlags(c, f);
  c->add_option("--expect-sha256", f.o.expect_sha256,
                "Refuse unless the backup's snapshot has this SHA-256 (the same on every master)");
  c->add_option("--lab", f.lab, "Run on every host of this lab, in parallel");
  c->add_option("--hosts", f.hosts, "Run on these roots, in parallel (comma-separated)")
      ->delimiter(',');
  c->callback([&state] {
    auto r = RunCluster(f);
    if (!r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
