// `cpr drill`: the seed's disasters on a local lab of real etcd masters,
// each recovered with CPR and checked (lab/drill.h). Exit 0 only when every
// check passed.
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "lab/drill.h"

namespace cpr::cli {
namespace {

struct DrillFlags {
  lab::DrillOptions o;
  std::string format = "table";
  bool no_baseline = false;
};

Result<bool> RunDrillCommand(DrillFlags& f) {
  Format format;
  if (!ParseFormat(f.format, &format) || format == Format::kRaw || format == Format::kYaml)
    return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + f.format + "'",
                     "use table or json");
  f.o.self = SelfExe();
  bool own_dir = false;
  if (f.o.dir.empty()) {
    char tmpl[] = "/tmp/cpr-drill-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      return MakeError(Code::kIo, "/tmp", "cannot make a folder for the drill's labs");
    f.o.dir = tmpl;
    own_dir = true;
  }
  f.o.baseline_etcdctl = !f.no_baseline && ::access("/usr/bin/etcdctl", X_OK) == 0;
  f.o.out = [](const std::string& line) { std::cerr << line << '\n'; };
  const lab::DrillResult r = CPR_TRY(lab::RunDrill(f.o));
  if (own_dir && !f.o.keep) ::rmdir(f.o.dir.c_str());
  if (format == Format::kJson)
    std::cout << r.json << '\n';
  else
    std::cout << r.table;
  if (!f.o.report_html.empty()) std::cerr << "[drill] report: " << f.o.report_html << '\n';
  return r.ok;
}

}  // namespace

void AddDrillCommand(CLI::App& app, RunState& state) {
  static DrillFlags f;
  auto* c = app.add_subcommand(
      "drill",
      "The disaster drill: quorum loss (two of three masters lost, restore-quorum on the "
      "survivor, old members fenced) and a restore of every master to a previous state "
      "(restore-cluster), on a local lab of real etcd 3.4 masters; every key checked");
  c->add_option("--dir", f.o.dir, "Where the labs live (default: a new folder in /tmp)");
  StrictInt(c->add_option("--mb", f.o.mb, "MB of Kubernetes-like objects per scenario"), 1, 8192)
      ->capture_default_str();
  c->add_option("--report", f.o.report_html,
                "Also write a self-contained HTML report with a timeline (SVG) here");
  c->add_flag("--keep", f.o.keep, "Keep the labs' folders (their processes are stopped)");
  c->add_flag("--no-baseline", f.no_baseline,
              "Do not time etcdctl's restore of the same backup for comparison");
  AddWriteOut(c, &f.format, "table or json");
  c->callback([&state] {
    auto r = RunDrillCommand(f);
    if (!r)
      state.exit_code = ReportError(r.error());
    else
      state.exit_code = *r ? 0 : 1;
  });
}

}  // namespace cpr::cli
