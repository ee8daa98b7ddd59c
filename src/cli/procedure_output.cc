#include "cli/procedure_output.h"

#include <fmt/format.h>

#include <ostream>

namespace cpr::cli {

Json StepsJson(const procedures::ProcedureReport& r) {
  Json steps = Json::array();
  for (const auto& s : r.steps) {
    Json j{{"name", s.name},
           {"summary", s.summary},
           {"state", s.state},
           {"start", s.start},
           {"seconds", s.seconds}};
    if (!s.error.empty()) j["error"] = s.error;
    steps.push_back(j);
  }
  return steps;
}

void PrintProcedureReport(std::ostream& out, const std::string& host, const std::string& subject,
                          const procedures::ProcedureReport& r, bool dry_run) {
  if (dry_run) {
    out << fmt::format("{} plan for {} (--dry-run: nothing is changed):\n", r.procedure, subject);
    for (const auto& s : r.steps) out << fmt::format("  {:<18} {}\n", s.name, s.summary);
    return;
  }
  Table t({"STEP", "STATE", "START", "SECONDS"});
  for (const auto& s : r.steps)
    t.Add({s.name, s.state, fmt::format("{:.2f}", s.start), fmt::format("{:.2f}", s.seconds)});
  t.Print(out);
  out << fmt::format("{}{} {} in {:.2f}s{}\n", host.empty() ? "" : host + ": ", r.procedure,
                     r.ok ? "done" : "FAILED", r.seconds, r.resumed ? " (resumed)" : "");
}

}  // namespace cpr::cli
