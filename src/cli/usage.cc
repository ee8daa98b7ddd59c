// etcdctl's command-line habits that CLI11 does not have by itself: pflag's
// `-w=json`, the -w flag's ETCDCTL_WRITE_OUT on every command, and usage
// errors that name the word CLI11 could not place, with the nearest command
// or flag (cobra's "Did you mean this?").
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "util/text.h"

namespace cpr::cli {

CLI::Option* AddWriteOut(CLI::App* cmd, std::string* format, const std::string& help) {
  // The variable becomes the default, not CLI11's envname: subcommands that
  // share one Flags (snapshot's) would each apply the variable after the
  // parse, over the flag the one that ran was given.
  if (const char* env = std::getenv("ETCDCTL_WRITE_OUT"); env != nullptr && *env != '\0')
    *format = env;
  return cmd->add_option("-w,--write-out", *format, help + " (env ETCDCTL_WRITE_OUT)")
      ->capture_default_str();
}

std::vector<std::string> EtcdctlArgs(int argc, char** argv) {
  std::vector<std::string> args;
  bool flags_end = false;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    flags_end = flags_end || a == "--";
    // pflag reads `-w=json` as `-w json`; CLI11 would take "=json" as the value.
    if (!flags_end && a.size() > 3 && a[0] == '-' && a[1] != '-' && a[2] == '=') {
      args.push_back(a.substr(0, 2));
      args.push_back(a.substr(3));
    } else {
      args.push_back(a);
    }
  }
  return args;
}

namespace {

// The deepest command the parse reached ("cpr member" for `cpr member lst`).
const CLI::App* Deepest(const CLI::App& app) {
  const CLI::App* cmd = &app;
  while (!cmd->get_subcommands().empty()) cmd = cmd->get_subcommands().front();
  return cmd;
}

std::string Path(const CLI::App* cmd) {
  std::string path = cmd->get_name();
  for (const CLI::App* p = cmd->get_parent(); p != nullptr; p = p->get_parent())
    path = (p->get_parent() == nullptr ? "cpr" : p->get_name()) + " " + path;
  return cmd->get_parent() == nullptr ? "cpr" : path;
}

std::vector<std::string> CommandNames(const CLI::App* cmd) {
  std::vector<std::string> names;
  for (const CLI::App* sub : cmd->get_subcommands({})) names.push_back(sub->get_name());
  return names;
}

std::vector<std::string> FlagNames(const CLI::App* cmd) {
  std::vector<std::string> names;
  for (const CLI::Option* o : cmd->get_options()) {
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    for (const std::string& s : o->get_snames()) names.push_back("-" + s);
  }
  return names;
}

std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string near = Nearest(word, candidates);
  return near.empty() ? "" : fmt::format("; did you mean '{}'?", near);
}

// The first word of `cmd` that CLI11 left unplaced, flags first (a flag's
// value is left behind with it).
std::string UnplacedWord(const CLI::App* cmd) {
  const std::vector<std::string> rest = cmd->remaining();
  auto flag = std::find_if(rest.begin(), rest.end(),
                           [](const std::string& w) { return w.size() > 1 && w[0] == '-'; });
  if (flag != rest.end()) return *flag;
  return rest.empty() ? "" : rest.front();
}

}  // namespace

int ReportUsageError(const CLI::App& app, const CLI::ParseError& e) {
  const CLI::App* cmd = Deepest(app);
  const std::string word = UnplacedWord(cmd);
  const std::vector<std::string> commands = CommandNames(cmd);
  if (word.empty() && !commands.empty() && e.get_name() == "RequiredError" &&
      cmd->remaining().empty()) {
    // `cpr`, `cpr member`: what can follow, as etcdctl prints.
    std::cout << cmd->help();
    return 0;
  }
  if (word.empty()) return app.exit(e) == 0 ? 0 : 2;
  if (word[0] == '-') {
    const std::string name = word.substr(0, word.find('='));
    std::cerr << fmt::format("cpr: unknown flag '{}' for '{}'{}\n", name, Path(cmd),
                             DidYouMean(name, FlagNames(cmd)));
  } else if (!commands.empty()) {
    std::cerr << fmt::format("cpr: unknown command '{}' for '{}'{}\n", word, Path(cmd),
                             DidYouMean(word, commands));
    std::cerr << fmt::format("commands: {} (see `{} --help`)\n", JoinList(commands, ", "),
                             Path(cmd));
    return 2;
  } else {
    std::cerr << fmt::format("cpr: unexpected argument '{}' for '{}'\n", word, Path(cmd));
  }
  std::cerr << fmt::format("see `{} --help`\n", Path(cmd));
  return 2;
}

}  // namespace cpr::cli
