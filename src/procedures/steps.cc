#include "procedures/steps.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "util/atomic_file.h"

namespace cpr::procedures {

using Json = nlohmann::ordered_json;

const std::string& StepContext::Get(const std::string& key) const {
  static const std::string kEmpty;
  auto it = facts_.find(key);
  return it == facts_.end() ? kEmpty : it->second;
}

void StepContext::Set(const std::string& key, std::string value) { facts_[key] = std::move(value); }

Result<void> StepContext::Save() { return save_ ? save_() : Result<void>(); }

void StepContext::Say(const std::string& line) const {
  if (say_) say_(line);
}

namespace {

// Test seam: CPR_STEP_FAULT=<step>:before|after kills the process (SIGKILL,
// no cleanup) at that point, to prove a re-run resumes from any of them.
void FaultPoint(const std::string& step, const char* when) {
  const char* at = std::getenv("CPR_STEP_FAULT");
  if (at != nullptr && step + ":" + when == at) std::raise(SIGKILL);
}

std::string JournalPath(const std::string& state_dir, const std::string& procedure) {
  return state_dir + "/journal/" + procedure + ".json";
}

}  // namespace

class Runner {
 public:
  friend Result<void> CheckJournal(const ProcedureOptions& o);
  Runner(const std::vector<Step>& steps, const ProcedureOptions& o, ProcedureReport& report)
      : steps_(steps), o_(o), r_(report) {
    r_.procedure = o.procedure;
    r_.journal = JournalPath(o.state_dir, o.procedure);
  }

  Result<void> Run() {
    const auto t0 = Clock::now();
    if (o_.dry_run) {
      for (const auto& s : steps_) r_.steps.push_back({s.name, s.summary, "planned", 0, 0, ""});
      r_.ok = true;
      return {};
    }
    CPR_RETURN_IF_ERROR(Load());
    ctx_.save_ = [this] { return Save(); };
    for (const auto& s : steps_) {
      StepResult res{s.name, s.summary, "", Since(t0), 0, ""};
      std::string& state = states_[s.name];
      if (state == "done") {
        res.state = "skipped";
        r_.steps.push_back(res);
        Print(s.name, "done by an earlier run (journal)");
        continue;
      }
      state = "started";
      CPR_RETURN_IF_ERROR(Save());
      FaultPoint(s.name, "before");
      ctx_.say_ = [this, name = s.name](const std::string& line) { Print(name, line); };
      const auto st = Clock::now();
      Print(s.name, s.summary);
      Result<void> ran = s.run(ctx_);
      res.seconds = Since(st);
      if (!ran) {
        res.state = "failed";
        res.error = ran.error().ToString();
        r_.steps.push_back(res);
        r_.seconds = Since(t0);
        // Failed at the first step, nothing done: nothing to resume either
        // (the next run, say with another backup, starts fresh). A step
        // that changed something and failed says so in a fact it saved.
        bool any_done = false;
        for (const auto& [name, st] : states_) any_done = any_done || st == "done";
        if (!any_done && ctx_.facts_.empty())
          ::unlink(r_.journal.c_str());
        else
          (void)Save();
        Error e = ran.error();
        e.where = fmt::format("[{}] {}", s.name, e.where);
        if (e.hint.empty())
          e.hint = o_.redo_all
                       ? "fix the cause and run the same command again"
                       : "fix the cause and run the same command again: it resumes from this step";
        return e;
      }
      FaultPoint(s.name, "after");  // run, not yet journaled as done
      state = "done";
      res.state = "done";
      r_.steps.push_back(res);
      Print(s.name, fmt::format("done in {:.2f}s", res.seconds));
      CPR_RETURN_IF_ERROR(Save());
    }
    r_.seconds = Since(t0);
    r_.ok = true;
    return Finish();
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double Since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }

  void Print(const std::string& step, const std::string& line) const {
    if (o_.out) o_.out(fmt::format("[{}] {}", step, line));
  }

  // A finished journal of this procedure with the same inputs, if any.
  std::string FinishedWithSameInputs() const {
    const std::string dir = DirName(r_.journal);
    const std::string prefix = o_.procedure + "-";
    std::string found;
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n.rfind(prefix, 0) != 0 || !n.ends_with(".json")) continue;
        auto text = ReadFileLimited(dir + "/" + n, 4 << 20);
        if (!text) continue;
        try {
          if (Json::parse(*text).value("inputs", "") == o_.inputs && n > found) found = n;
        } catch (const std::exception&) {
        }
      }
      ::closedir(d);
    }
    return found.empty() ? found : dir + "/" + found;
  }

  // Reads only: the journal this run would resume (nullopt: a fresh run), or
  // why it must not run. RestoreClusterHosts asks every host this before any
  // host changes.
  Result<std::optional<Json>> Check() const {
    auto text = ReadFileLimited(r_.journal, 4 << 20);
    if (!text) {
      struct stat st {};
      if (text.error().code != Code::kNotFound && ::stat(r_.journal.c_str(), &st) == 0)
        return text.error();
      if (const std::string done = FinishedWithSameInputs(); !done.empty() && !o_.again)
        return MakeError(Code::kFailedPrecondition, done,
                         fmt::format("this {} already finished with the same inputs", o_.procedure),
                         "running it again restores the backup once more, over what was written "
                         "since (moved aside, not lost): pass --again to do so");
      return std::optional<Json>();
    }
    Json j;
    try {
      j = Json::parse(*text);
      if (!j.is_object()) throw std::runtime_error("not an object");
      if (j.value("inputs", "") != o_.inputs)
        return MakeError(
            Code::kFailedPrecondition, r_.journal,
            fmt::format("an unfinished {} with other inputs is journaled here ({})", o_.procedure,
                        j.value("inputs", "")),
            "finish it by running it again with its own arguments, or move the journal aside to "
            "start over (what it moved aside stays where the journal says)");
      const Json steps = j.value("steps", Json::object());
      const Json facts = j.value("facts", Json::object());
      for (const auto& [k, v] : steps.items()) (void)v.value("state", "");
      for (const auto& [k, v] : facts.items()) (void)v.get<std::string>();
    } catch (const std::exception& e) {
      return MakeError(Code::kCorrupt, r_.journal, std::string("not a journal: ") + e.what(),
                       "move it aside to start over");
    }
    return std::optional<Json>(std::move(j));
  }

  Result<void> Load() {
    const std::optional<Json> journal = CPR_TRY(Check());
    if (!journal) return {};
    const Json steps = journal->value("steps", Json::object());
    const Json facts = journal->value("facts", Json::object());
    if (!o_.redo_all)
      for (const auto& [k, v] : steps.items()) states_[k] = v.value("state", "");
    for (const auto& [k, v] : facts.items()) ctx_.facts_[k] = v.get<std::string>();
    r_.resumed = true;
    std::string last;
    for (const auto& s : steps_)
      if (states_[s.name] == "done") last = s.name;
    if (o_.out)
      o_.out(fmt::format("[{}] resuming an interrupted run{} (journal {})", o_.procedure,
                         last.empty() ? "" : " after step " + last, r_.journal));
    return {};
  }

  Result<void> Save() {
    Json steps = Json::object();
    for (const auto& s : steps_)
      if (!states_[s.name].empty()) steps[s.name] = {{"state", states_[s.name]}};
    Json facts = Json::object();
    for (const auto& [k, v] : ctx_.facts_) facts[k] = v;
    Json j{{"procedure", o_.procedure},
           {"inputs", o_.inputs},
           {"updated", static_cast<int64_t>(std::time(nullptr))},
           {"steps", steps},
           {"facts", facts}};
    CPR_RETURN_IF_ERROR(MakeDirs(DirName(r_.journal), 0700));
    return WriteFileAtomic(r_.journal, j.dump(2) + "\n", 0600);
  }

  // A finished journal is kept under a name of its own: the next run starts fresh.
  Result<void> Finish() {
    const std::string stamp = LocalStamp();
    std::string done = r_.journal.substr(0, r_.journal.size() - 5) + "-" + stamp + ".json";
    for (int n = 2; ::access(done.c_str(), F_OK) == 0; n++)
      done = r_.journal.substr(0, r_.journal.size() - 5) + "-" + stamp + "-" + std::to_string(n) +
             ".json";
    if (::rename(r_.journal.c_str(), done.c_str()) != 0)
      return MakeError(Code::kIo, r_.journal, "cannot keep the finished journal");
    r_.journal = done;
    return FsyncDir(DirName(done));
  }

  const std::vector<Step>& steps_;
  const ProcedureOptions& o_;
  ProcedureReport& r_;
  StepContext ctx_;
  std::map<std::string, std::string> states_;
};

Result<void> CheckJournal(const ProcedureOptions& o) {
  ProcedureReport r;
  const std::vector<Step> none;
  auto checked = Runner(none, o, r).Check();
  if (!checked) return checked.error();
  return {};
}

std::map<std::string, std::string> UnfinishedJournalFacts(const std::string& state_dir,
                                                          const std::string& procedure) {
  std::map<std::string, std::string> facts;
  auto text = ReadFileLimited(JournalPath(state_dir, procedure), 4 << 20);
  if (!text) return facts;
  try {
    const Json j = Json::parse(*text);
    const Json journaled = j.is_object() ? j.value("facts", Json::object()) : Json::object();
    for (const auto& [k, v] : journaled.items())
      if (v.is_string()) facts[k] = v.get<std::string>();
  } catch (const std::exception&) {
    facts.clear();  // the runner names a damaged journal when it loads it
  }
  return facts;
}

Result<ProcedureReport> RunProcedure(const std::vector<Step>& steps, const ProcedureOptions& o,
                                     ProcedureReport* report) {
  ProcedureReport local;
  ProcedureReport& r = report != nullptr ? *report : local;
  CPR_RETURN_IF_ERROR(Runner(steps, o, r).Run());
  return r;
}

}  // namespace cpr::procedures
