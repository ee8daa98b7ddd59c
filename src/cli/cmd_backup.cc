// `cpr backup DIR`: snapshot + static pod resources from a live cluster, in
// OpenShift's layout, verified before they exist (procedures/backup.h). On
// stderr: each step's lines and time, the step table, and a progress bar on
// a terminal. On stdout: the result (`-w json`: one JSON object), or under
// --dry-run the plan.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>

#include "cli/client_flags.h"
#include "cli/command.h"
#include "cli/live_output.h"
#include "cli/procedure_output.h"
#include "procedures/backup.h"
#include "util/text.h"

namespace cpr::cli {
namespace {

struct Flags {
  ClientFlags client;
  procedures::BackupOptions backup;
};

std::atomic<bool> g_interrupted{false};
void OnSignal(int) { g_interrupted.store(true); }

// Ctrl-C or SIGTERM stops the stream cleanly: the temporary files go.
class SignalScope {
 public:
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// "[=======>      ]  123.4 MB / 489.0 MB  95.3 MB/s  ETA 3s", redrawn at
// most 10 times a second.
class ProgressBar {
 public:
  void Update(uint64_t bytes, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (!started_) {
      start_ = now;
      started_ = true;
    }
    if (bytes < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(bytes) / secs : 0;
    const int width = 30;
    const int filled =
        total ? static_cast<int>(static_cast<double>(bytes) * width / static_cast<double>(total))
              : 0;
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < width) bar += '>';
    bar.resize(width, ' ');
    std::string eta = "-";
    if (rate > 0 && total >= bytes)
      eta = fmt::format("{:.0f}s", static_cast<double>(total - bytes) / rate);
    std::cerr << fmt::format("\r[{}] {:>9} / {:<9} {:>10}/s  ETA {:<5}", bar, HumanizeBytes(bytes),
                             HumanizeBytes(total), HumanizeBytes(static_cast<uint64_t>(rate)), eta)
              << std::flush;
    drawn_ = true;
  }
  void Done() {
    if (drawn_) std::cerr << '\n';
    drawn_ = false;
  }

 private:
  bool started_ = false, drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

// --dry-run: the plan on stdout, as text or JSON.
void PrintPlan(const procedures::BackupResult& r, const procedures::ProcedureReport& report,
               LiveFormat format) {
  if (format == LiveFormat::kTable)
    PrintProcedureReport(std::cout, "", r.dir, report, /*dry_run=*/true);
  else if (format == LiveFormat::kJson)
    PrintJson(std::cout, Json{{"procedure", report.procedure},
                              {"dry_run", true},
                              {"dir", r.dir},
                              {"steps", StepsJson(report)}});
  else
    PrintYaml(std::cout, Json{{"procedure", report.procedure}, {"steps", StepsJson(report)}});
}

Result<void> Run(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  if (format == LiveFormat::kSimple)
    return MakeError(Code::kInvalidArgument, "-w", "backup prints table, json or yaml");
  auto client = CPR_TRY(MakeClient(f.client));
  ProgressBar bar;
  procedures::BackupObserver observer;
  observer.out = [&](const std::string& line) {
    bar.Done();
    std::cerr << line << '\n';
  };
  if (::isatty(STDERR_FILENO) == 1)
    observer.progress = [&](uint64_t bytes, uint64_t total) { bar.Update(bytes, total); };
  g_interrupted.store(false);
  SignalScope signals;
  procedures::ProcedureReport report;
  auto result = procedures::Backup(*client, f.backup, observer, &g_interrupted, &report);
  bar.Done();
  if (result && f.backup.dry_run) {
    PrintPlan(*result, report, format);
    return {};
  }
  if (!report.steps.empty()) PrintProcedureReport(std::cerr, "", "", report, false);
  if (!result && g_interrupted.load())
    return MakeError(Code::kUnavailable, "backup", "interrupted by a signal: nothing was kept",
                     result.error().ToString());
  if (!result) return std::move(result).error();
  const procedures::BackupResult& r = *result;
  if (format != LiveFormat::kTable) {
    Json doc = Json::parse(procedures::BackupResultJson(r));
    doc["resumed"] = report.resumed;
    doc["steps"] = StepsJson(report);
    if (format == LiveFormat::kJson)
      std::cout << doc.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
    else
      PrintYaml(std::cout, doc);
    return {};
  }
  Table files({"FILE", "SIZE", "SHA-256"});
  files.Add({r.snapshot.path, HumanizeBytes(r.snapshot.size), r.snapshot.sha256});
  if (r.has_resources)
    files.Add({r.resources.path, HumanizeBytes(r.resources.size), r.resources.sha256});
  files.Add({r.manifest_path, "", ""});
  files.Print(std::cout);
  Table t({"FIELD", "VALUE"});
  t.Add({"revision", std::to_string(r.revision)});
  t.Add({"hashKV", std::to_string(r.hash_kv)});
  t.Add({"raft index / term", fmt::format("{} / {}", r.raft_index, r.raft_term)});
  t.Add({"member", fmt::format("{} {} ({}, {})", Hex(r.member.id), r.member.name, r.endpoint,
                               r.from_leader ? "leader" : "follower")});
  t.Add({"cluster", fmt::format("{} etcd {} ({} members)", Hex(r.cluster_id), r.etcd_version,
                                r.members.size())});
  if (r.has_resources) {
    std::string revs;
    for (const auto& [component, n] : r.selection.revisions)
      revs += fmt::format("{}{}-pod-{}", revs.empty() ? "" : ", ", component, n);
    if (r.selection.etcd_member) revs += revs.empty() ? "etcd-member" : ", etcd-member";
    t.Add({"resources", r.selection.openshift_layout ? revs : "whole folder " + r.selection.root});
  }
  t.Add({"time", fmt::format("{:.2f}s (stream {:.2f}s, verify {:.2f}s)", r.seconds,
                             r.stream_seconds, r.verify_seconds)});
  for (const auto& p : r.pruned) t.Add({"pruned", p});
  t.Print(std::cout);
  for (const auto& w : r.warnings) std::cerr << "cpr: warning: " << w << '\n';
  return {};
}

}  // namespace

void AddBackupCommand(CLI::App& app, RunState& state) {
  auto flags = std::make_shared<Flags>();
  std::string steps = "Steps:\n";
  for (const auto& s : procedures::BackupSteps())
    steps += fmt::format("  {:<14} {}\n", s.name, s.summary);
  CLI::App* backup = app.add_subcommand(
      "backup",
      "Back up a live cluster: snapshot_<stamp>.db + static_kuberesources_<stamp>.tar.gz + "
      "backup_<stamp>.json, verified before they exist");
  backup->footer(steps);
  backup->add_option("DIR", flags->backup.dir, "backup directory (created 0700)")->required();
  backup->add_option("--resources", flags->backup.resources, "static pod resources folder")
      ->capture_default_str();
  backup->add_flag("--no-resources", flags->backup.no_resources,
                   "snapshot only (clusters without static pods)");
  StrictInt(
      backup->add_option("--keep", flags->backup.keep,
                         "after success, keep only the newest N backups in DIR (0: keep all)"),
      0, INT32_MAX);
  backup->add_flag("--cluster", flags->backup.cluster,
                   "choose among every member's client URLs (from the member list)");
  backup->add_flag("--dry-run", flags->backup.dry_run,
                   "print the steps and change nothing (DIR is not even created)");
  AddClientFlags(backup, &flags->client);
  backup->callback([&state, flags] {
    if (auto r = Run(*flags); !r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
