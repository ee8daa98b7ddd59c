// Steps: how every procedure that changes a host runs (kubeadm's phases are
// the model, docs/style.md): a procedure is a plain list of named steps that
// reads like the seed's runbook; one runner owns the plan (--dry-run), the
// journal, the timing and the resume, so a procedure file holds only its
// steps.
//
// The journal (STATE/journal/<procedure>.json, written atomically after
// every step) records the inputs' fingerprint, each step's state and time,
// and the facts steps leave for later steps and for a re-run (where a data
// dir was moved to, say). A run killed at any point and started again with
// the same inputs skips the steps marked done and redoes the one that was
// running: every step is written to be safe to redo. A finished journal is
// kept as <procedure>-<stamp>.json; an unfinished one with other inputs is
// refused (finish it with its own arguments, or move it aside), and so is a
// run whose inputs a finished run already had, unless `again` (re-running a
// restore that succeeded would restore over what was written since). With
// `redo_all`, a resume starts again from the first step, facts kept.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::procedures {

class StepContext {
 public:
  // A fact recorded in the journal (survives a crash); "" when unset.
  const std::string& Get(const std::string& key) const;
  void Set(const std::string& key, std::string value);  // persisted after the step
  Result<void> Save();                                  // persist now (mid-step)
  // A line of progress, tagged with the step ("[stop-pods] ...").
  void Say(const std::string& line) const;

 private:
  friend class Runner;
  std::function<Result<void>()> save_;
  std::function<void(const std::string&)> say_;
  std::map<std::string, std::string> facts_;
};

struct Step {
  std::string name;     // "stop-pods": a word, as in the journal and the report
  std::string summary;  // one line: what it does (the --dry-run plan)
  std::function<Result<void>(StepContext&)> run;  // safe to redo
};

struct StepResult {
  std::string name, summary;
  std::string state;              // "done", "skipped" (done by an earlier run), "failed", "planned"
  double start = 0, seconds = 0;  // since the procedure started
  std::string error;
};

struct ProcedureReport {
  std::string procedure;
  std::vector<StepResult> steps;
  bool resumed = false;
  std::string journal;
  double seconds = 0;
  bool ok = false;
};

struct ProcedureOptions {
  std::string procedure;  // "restore-quorum"
  std::string state_dir;  // the host's /var/lib/cpr
  std::string inputs;     // what a resume must match (backup SHA-256, INITIAL_CLUSTER, ...)
  bool dry_run = false;
  // Each progress line, as "[step] text" (stderr, in the CLI).
  std::function<void(const std::string&)> out;
  // Run even though a finished run with the same inputs is journaled (a
  // second restore of the same backup, over what was written since).
  bool again = false;
  // A resume redoes every step, done or not, keeping only the journal's
  // facts: for a procedure whose steps leave their work in the process (the
  // backup's open stream), so a step cannot be skipped; its steps read the
  // facts to clean up what the killed run left.
  bool redo_all = false;
};

// Reads only: whether RunProcedure would refuse to start for its journal
// (an unfinished run of other inputs, a finished run of the same inputs
// without `again`, a damaged journal).
Result<void> CheckJournal(const ProcedureOptions& options);

// The facts an unfinished run of `procedure` journaled under `state_dir`
// (empty when there is none or it cannot be read). Reads only: a plan asks
// what an interrupted run already did (the process runtime's journaled
// command line, once the process it stopped is gone).
std::map<std::string, std::string> UnfinishedJournalFacts(const std::string& state_dir,
                                                          const std::string& procedure);

// Runs (or with dry_run, lists) the steps. The report is filled either way;
// an error names the step that failed and the journal to resume from.
Result<ProcedureReport> RunProcedure(const std::vector<Step>& steps,
                                     const ProcedureOptions& options, ProcedureReport* report);

}  // namespace cpr::procedures
