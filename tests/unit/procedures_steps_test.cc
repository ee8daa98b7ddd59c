// Tests for procedures/steps.h: the step runner's dry-run, journal, resume
// and refusal of a journal with other inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pki_testing.h"
#include "procedures/steps.h"

namespace cpr::procedures {
namespace {

using cpr::testing::TempDir;

std::vector<Step> Counting(std::map<std::string, int>& runs, const std::string& fail_at) {
  std::vector<Step> steps;
  for (const char* name : {"one", "two", "three"})
    steps.push_back({name, std::string("step ") + name, [&runs, name, fail_at](StepContext& ctx) {
                       runs[name]++;
                       ctx.Set(std::string("fact-") + name, "set");
                       if (fail_at == name) return Result<void>(MakeError(Code::kIo, name, "boom"));
                       return Result<void>();
                     }});
  return steps;
}

TEST(Steps, DryRunPlansAndChangesNothing) {
  TempDir dir;
  std::map<std::string, int> runs;
  ProcedureOptions o{"proc", dir.path(), "inputs", true, nullptr};
  ProcedureReport r;
  ASSERT_TRUE(RunProcedure(Counting(runs, ""), o, &r));
  ASSERT_EQ(r.steps.size(), 3u);
  for (const auto& s : r.steps) EXPECT_EQ(s.state, "planned");
  EXPECT_TRUE(runs.empty());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/journal"));
}

TEST(Steps, AFailedRunResumesFromTheFailedStep) {
  TempDir dir;
  std::map<std::string, int> runs;
  std::vector<std::string> lines;
  ProcedureOptions o{"proc", dir.path(), "inputs", false,
                     [&lines](const std::string& l) { lines.push_back(l); }};
  ProcedureReport first;
  auto r = RunProcedure(Counting(runs, "two"), o, &first);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().ToString().find("[two]"), std::string::npos) << r.error().ToString();
  EXPECT_EQ(runs["one"], 1);
  EXPECT_EQ(runs["two"], 1);
  EXPECT_EQ(runs["three"], 0);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/journal/proc.json"));
  // Run again: "one" is skipped (done), "two" redone, "three" run; facts survive.
  ProcedureReport second;
  std::vector<Step> steps = Counting(runs, "");
  std::string fact_seen;
  steps[1].run = [&](StepContext& ctx) {
    fact_seen = ctx.Get("fact-one");
    runs["two"]++;
    return Result<void>();
  };
  ASSERT_TRUE(RunProcedure(steps, o, &second));
  EXPECT_TRUE(second.resumed);
  EXPECT_EQ(fact_seen, "set");
  EXPECT_EQ(runs["one"], 1);
  EXPECT_EQ(runs["two"], 2);
  EXPECT_EQ(runs["three"], 1);
  EXPECT_EQ(second.steps[0].state, "skipped");
  EXPECT_EQ(second.steps[2].state, "done");
  // Finished: kept under a stamped name, and the next run starts fresh.
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/journal/proc.json"));
  EXPECT_NE(second.journal.find("proc-"), std::string::npos);
  // The same inputs again: refused (a second restore over what was written
  // since), unless asked for.
  auto refused = RunProcedure(Counting(runs, ""), o, nullptr);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(runs["one"], 1);
  o.again = true;
  ProcedureReport third;
  ASSERT_TRUE(RunProcedure(Counting(runs, ""), o, &third));
  EXPECT_FALSE(third.resumed);
  EXPECT_EQ(runs["one"], 2);
}

TEST(Steps, AFailedFirstStepLeavesNoJournal) {
  TempDir dir;
  std::map<std::string, int> runs;
  ProcedureOptions o{"proc", dir.path(), "backup A", false, nullptr};
  std::vector<Step> steps = Counting(runs, "one");
  steps[0].run = [](StepContext&) { return Result<void>(MakeError(Code::kCorrupt, "a", "bad")); };
  ASSERT_FALSE(RunProcedure(steps, o, nullptr));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/journal/proc.json"));
  o.inputs = "backup B";  // another backup: a fresh run, not a refusal
  ASSERT_TRUE(RunProcedure(Counting(runs, ""), o, nullptr));
}

TEST(Steps, RedoAllResumesFromTheFirstStepWithTheFacts) {
  TempDir dir;
  std::map<std::string, int> runs;
  ProcedureOptions o{"proc", dir.path(), "inputs", false, nullptr};
  o.redo_all = true;
  ASSERT_FALSE(RunProcedure(Counting(runs, "three"), o, nullptr));
  // Run again: every step again, "one" and "two" though journaled done; the
  // facts the failed run left are there for the first step to read.
  std::vector<Step> steps = Counting(runs, "");
  std::string fact_seen;
  steps[0].run = [&](StepContext& ctx) {
    fact_seen = ctx.Get("fact-three");
    runs["one"]++;
    return Result<void>();
  };
  ProcedureReport second;
  ASSERT_TRUE(RunProcedure(steps, o, &second));
  EXPECT_TRUE(second.resumed);
  EXPECT_EQ(fact_seen, "set");
  EXPECT_EQ(runs, (std::map<std::string, int>{{"one", 2}, {"two", 2}, {"three", 2}}));
  for (const auto& s : second.steps) EXPECT_EQ(s.state, "done") << s.name;
}

TEST(Steps, AJournalOfOtherInputsIsRefused) {
  TempDir dir;
  std::map<std::string, int> runs;
  ProcedureOptions o{"proc", dir.path(), "backup A", false, nullptr};
  ASSERT_FALSE(RunProcedure(Counting(runs, "three"), o, nullptr));
  o.inputs = "backup B";
  auto r = RunProcedure(Counting(runs, ""), o, nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_NE(r.error().ToString().find("backup A"), std::string::npos);
  // A damaged journal is named, not trusted.
  std::ofstream(dir.path() + "/journal/proc.json") << "{not json";
  auto d = RunProcedure(Counting(runs, ""), o, nullptr);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Code::kCorrupt);
}

}  // namespace
}  // namespace cpr::procedures
