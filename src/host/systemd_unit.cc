// The systemd member runtime (member_runtime.h), shaped on Debian 12's
// etcd-server: /lib/systemd/system/etcd.service runs `/usr/bin/etcd
// $DAEMON_ARGS` with Environment=ETCD_NAME=%H and
// ETCD_DATA_DIR=/var/lib/etcd/default, then EnvironmentFile=-/etc/default/etcd
// (its assignments win). The config is read the same way: those defaults
// (the data dir under --root, the name from ROOT/etc/hostname or this
// host's), the env file, then DAEMON_ARGS split at spaces as systemd splits
// an unquoted $VAR.
//
// Stop is `systemctl stop --no-block etcd` and a bounded wait until the data
// dir is free and the ports refuse (WaitEtcdGone, which can kill an etcd
// that lingers); Start is `systemctl start --no-block etcd`. Not blocking on
// start: the unit is Type=notify and etcd 3.4 notifies only once it has
// published itself through raft, so restore-cluster's first host would wait
// for the others (until systemd gave up at TimeoutStartSec and killed it);
// the procedure's wait-serving step does the waiting instead. Both are
// idempotent, so nothing is journaled.
//
// systemctl is $CPR_SYSTEMCTL when set (tests: a container has no systemd as
// PID 1), else systemctl from PATH.
//
// The env file is never rewritten: after a restore the data dir holds a WAL,
// and etcd then ignores ETCD_INITIAL_CLUSTER, _STATE and _TOKEN
// (tests/integration/test_runtimes.py boots a one-member restore under an
// env file naming three members).
#include <fmt/format.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "host/member_runtime.h"
#include "util/atomic_file.h"
#include "util/process.h"
#include "util/text.h"

namespace cpr::host {
namespace {

std::string Systemctl() {
  const char* s = std::getenv("CPR_SYSTEMCTL");
  return s != nullptr && *s != '\0' ? s : "systemctl";
}

// systemd's %H for the host under `h`: its /etc/hostname, else this one's.
std::string HostName(const Host& h) {
  if (auto text = ReadFileLimited(h.Path("etc/hostname"), 256)) {
    const auto words = SplitList(*text, '\n');
    if (!words.empty()) return words[0];
  }
  char name[HOST_NAME_MAX + 1] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

class SystemdRuntime final : public MemberRuntime {
 public:
  explicit SystemdRuntime(Host h) : h_(std::move(h)) {}

  std::string kind() const override { return "systemd"; }
  std::string subject() const override { return "etcd"; }
  std::string StopSummary() const override {
    return fmt::format("stop etcd.service ({} stop --no-block etcd) and wait until etcd is gone",
                       Systemctl());
  }
  std::string StartSummary() const override {
    return fmt::format("start etcd.service ({} start --no-block etcd)", Systemctl());
  }

  Result<MemberConfig> Config(const RuntimeJournal&) const override {
    const std::string file = h_.Path("etc/default/etcd");
    EnvList env = {{"DAEMON_ARGS", ""},
                   {"ETCD_NAME", HostName(h_)},
                   {"ETCD_DATA_DIR", h_.Path("var/lib/etcd/default")}};
    const EnvList from_file =
        CPR_TRY(ParseEnvironmentFile(CPR_TRY(ReadFileLimited(file, 1 << 20)), file));
    env.insert(env.end(), from_file.begin(), from_file.end());
    std::vector<std::string> args;
    for (auto& a : SplitList(EnvValue(env, "DAEMON_ARGS"), ' ')) args.push_back(std::move(a));
    return EtcdMemberConfig(args, env, file);
  }

  Result<void> Stop(RuntimeJournal& j, const StopOptions& o,
                    const std::function<void(const std::string&)>& say) const override {
    const MemberConfig m = CPR_TRY(Config(j));
    CPR_RETURN_IF_ERROR(Run("stop"));
    const std::string note =
        CPR_TRY(WaitEtcdGone(m, 0, o, "etcd", "systemctl stop etcd",
                             "see `systemctl status etcd`; stop etcd by hand, then re-run"));
    say("etcd gone" + (note.empty() ? "" : " (" + note + ")"));
    return {};
  }

  Result<void> Start(RuntimeJournal&,
                     const std::function<void(const std::string&)>&) const override {
    return Run("start");
  }

  std::string LogFile() const override { return ""; }  // the journal: journalctl -u etcd

 private:
  static Result<void> Run(const std::string& verb) {
    const std::vector<std::string> argv = {Systemctl(), verb, "--no-block", "etcd"};
    const CommandResult r = CPR_TRY(RunCommand(argv, std::chrono::seconds(30)));
    if (r.exit_code != 0)
      return MakeError(Code::kUnavailable, JoinList(argv, " "),
                       fmt::format("exit {}: {}", r.exit_code, r.output),
                       "see `systemctl status etcd` and `journalctl -u etcd`");
    return {};
  }

  Host h_;
};

}  // namespace

std::unique_ptr<MemberRuntime> NewSystemdRuntime(const Host& host) {
  return std::make_unique<SystemdRuntime>(host);
}

}  // namespace cpr::host
