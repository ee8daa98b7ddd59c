// How every procedure of steps (restore-quorum, restore-cluster, backup)
// shows its ProcedureReport: the plan under --dry-run, else a table of each
// step's state and time, as JSON or as text.
#pragma once

#include <iosfwd>
#include <string>

#include "cli/output.h"
#include "procedures/steps.h"

namespace cpr::cli {

// Each step: name, summary, state, start, seconds (and error, if any).
Json StepsJson(const procedures::ProcedureReport& r);

// With dry_run, "<procedure> plan for <subject> (--dry-run: ...)" and each
// step's summary; otherwise the STEP/STATE/START/SECONDS table and a line
// "<host: ><procedure> done|FAILED in 1.23s (resumed)".
void PrintProcedureReport(std::ostream& out, const std::string& host, const std::string& subject,
                          const procedures::ProcedureReport& r, bool dry_run);

}  // namespace cpr::cli
