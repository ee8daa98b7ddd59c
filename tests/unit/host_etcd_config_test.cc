// Tests for host/etcd_config.h and the runtime choice of host/member_runtime.h:
// Debian's /etc/default/etcd read as its shell reads it, etcd's flags and
// ETCD_* twins from a command line and environment, `--runtime auto`.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "host/etcd_config.h"
#include "host/member_runtime.h"
#include "host/pod_manifest.h"
#include "util/process.h"

namespace cpr::host {
namespace {

TEST(EnvironmentFile, DebianShapes) {
  const std::string text =
      "## etcd(1) daemon options\n"
      "#ETCD_NAME=commented\n"
      "; a systemd comment\n"
      "\n"
      "ETCD_NAME=\"m1\"\n"
      "  export ETCD_DATA_DIR='/var/lib/etcd/my dir'\n"
      "ETCD_LISTEN_CLIENT_URLS=https://10.0.0.1:2379   # clients\n"
      "ETCD_INITIAL_CLUSTER=\"m1=https://10.0.0.1:2380,\\\n"
      "m2=https://10.0.0.2:2380\"\n"
      "DAEMON_ARGS=\"--log-level warn --quoted \\\"x\\\" \\\\n\"\n"
      "ETCD_EMPTY=\n"
      "ETCD_NAME=m1-again";  // later wins; no final newline
  auto env = ParseEnvironmentFile(text, "etcd");
  ASSERT_TRUE(env) << env.error().ToString();
  EXPECT_EQ(EnvValue(*env, "ETCD_NAME"), "m1-again");
  EXPECT_EQ(EnvValue(*env, "ETCD_DATA_DIR"), "/var/lib/etcd/my dir");
  EXPECT_EQ(EnvValue(*env, "ETCD_LISTEN_CLIENT_URLS"), "https://10.0.0.1:2379");
  EXPECT_EQ(EnvValue(*env, "ETCD_INITIAL_CLUSTER"),
            "m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380");
  EXPECT_EQ(EnvValue(*env, "DAEMON_ARGS"), "--log-level warn --quoted \"x\" \\n");
  EXPECT_EQ(EnvValue(*env, "ETCD_EMPTY"), "");
  EXPECT_EQ(env->size(), 7u);
}

TEST(EnvironmentFile, RefusesWhatItCannotReadLikeTheShell) {
  for (const char* bad :
       {"ETCD_NAME=\"open\n", "ETCD_NAME='open\n", "just words\n", "ETCD_NAME=$(hostname)\n",
        "ETCD_DATA_DIR=\"$HOME/x\"\n", "ETCD_NAME=two words\n", "1BAD=x\n", "=x\n"}) {
    auto env = ParseEnvironmentFile(std::string("ETCD_OK=1\n") + bad, "etcd");
    ASSERT_FALSE(env) << bad;
    EXPECT_EQ(env.error().where, "etcd line 2") << bad;
  }
  auto literal = ParseEnvironmentFile("ETCD_X='$not expanded'\n", "etcd");
  ASSERT_TRUE(literal);
  EXPECT_EQ(EnvValue(*literal, "ETCD_X"), "$not expanded");
}

TEST(EtcdConfig, FlagsWinOverEnvAndEveryFormCounts) {
  const EnvList env = {{"ETCD_NAME", "from-env"},
                       {"ETCD_DATA_DIR", "/env/data"},
                       {"ETCD_ADVERTISE_CLIENT_URLS", "https://a:2379,https://b:2379"},
                       {"ETCD_TRUSTED_CA_FILE", "/pki/ca.crt"}};
  const std::vector<std::string> args = {"--name",
                                         "from-flag",
                                         "-initial-advertise-peer-urls=https://a:2380",
                                         "--listen-peer-urls=https://0.0.0.0:2380",
                                         "--listen-client-urls",
                                         "https://0.0.0.0:2379,http://127.0.0.1:2379",
                                         "--cert-file",
                                         "/pki/s.crt"};
  const MemberConfig m = EtcdMemberConfig(args, env, "test");
  EXPECT_EQ(m.name, "from-flag");
  EXPECT_EQ(m.data_dir, "/env/data");
  EXPECT_EQ(m.peer_url, "https://a:2380");
  EXPECT_EQ(m.client_url, "https://a:2379");
  EXPECT_EQ(m.listen_urls, (std::vector<std::string>{"https://0.0.0.0:2380", "https://0.0.0.0:2379",
                                                     "http://127.0.0.1:2379"}));
  EXPECT_EQ(m.trusted_ca_file, "/pki/ca.crt");
  EXPECT_EQ(m.cert_file, "/pki/s.crt");
  EXPECT_EQ(m.key_file, "");
  EXPECT_EQ(m.source, "test");
}

TEST(EtcdConfig, ProcessDefaultsAgainstItsWorkingDirectory) {
  // /proc/PID/cmdline and environ, NUL-separated, an empty argument kept.
  static const char kCmdline[] = "etcd\0--data-dir\0data/\0--x\0";  // + the final NUL
  static const char kEnviron[] = "PATH=/bin\0ETCD_NAME=p1\0ODD";
  const std::string cmdline(kCmdline, sizeof kCmdline);
  const auto argv = SplitNul(cmdline);
  ASSERT_EQ(argv.size(), 5u);
  EXPECT_EQ(argv[4], "");
  EXPECT_EQ(JoinNul(argv), cmdline);
  const EnvList env = EnvPairs(SplitNul(std::string(kEnviron, sizeof kEnviron)));
  EXPECT_EQ(EnvValue(env, "ETCD_NAME"), "p1");
  EXPECT_EQ(EnvValue(env, "ODD"), "");
  const std::vector<std::string> args(argv.begin() + 1, argv.end());
  EXPECT_EQ(EtcdMemberConfig(args, env, "p", "/srv/etcd").data_dir, "/srv/etcd/data");
  // etcd's own defaults: name "default", data dir "<name>.etcd" in the cwd.
  const MemberConfig d = EtcdMemberConfig({}, {}, "p", "/srv/");
  EXPECT_EQ(d.name, "default");
  EXPECT_EQ(d.data_dir, "/srv/default.etcd");
}

class TempRoot {
 public:
  TempRoot() {
    char tmpl[] = "/tmp/cpr-runtime-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempRoot() { std::filesystem::remove_all(path_); }
  void Write(const std::string& rel, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(path_ + "/" + rel).parent_path());
    std::ofstream(path_ + "/" + rel) << text;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Result<RuntimeKind> Choose(const TempRoot& r, const std::string& pid_file = "") {
  RuntimeOptions o;
  o.pid_file = pid_file;
  return ChooseRuntime(Host(r.path()), o);
}

TEST(RuntimeChoice, AutoInOrderStaticPodSystemdProcess) {
  ::unsetenv("CPR_SYSTEMCTL");
  TempRoot r;
  auto none = Choose(r);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().what.find("etc/kubernetes/manifests"), std::string::npos);
  EXPECT_NE(none.error().what.find("etc/default/etcd"), std::string::npos);
  EXPECT_NE(none.error().hint.find("--runtime"), std::string::npos);
  EXPECT_EQ(*Choose(r, "/run/etcd.pid"), RuntimeKind::kProcess);
  // The env file alone is not systemd: the unit must be known too.
  r.Write("etc/default/etcd", "ETCD_NAME=m1\n");
  EXPECT_EQ(*Choose(r, "/run/etcd.pid"), RuntimeKind::kProcess);
  r.Write("lib/systemd/system/etcd.service", "[Service]\n");
  EXPECT_EQ(*Choose(r, "/run/etcd.pid"), RuntimeKind::kSystemd);
  // An etcd manifest, running or stopped by an interrupted run, wins.
  EtcdMemberSpec spec;
  spec.name = "m1";
  spec.ip = "127.0.0.11";
  spec.data_dir = "/d";
  r.Write("etc/kubernetes/manifests-stopped/etcd-member.yaml",
          RenderPodManifest(EtcdMemberManifest(spec)));
  EXPECT_EQ(*Choose(r), RuntimeKind::kStaticPod);
  // What was asked is taken as asked.
  RuntimeOptions o;
  o.kind = RuntimeKind::kProcess;
  EXPECT_EQ(*ChooseRuntime(Host(r.path()), o), RuntimeKind::kProcess);
  o.pid_file = "";
  auto process = OpenRuntime(Host(r.path()), o);
  ASSERT_FALSE(process);
  EXPECT_EQ(process.error().code, Code::kInvalidArgument);
}

TEST(RuntimeChoice, SystemctlOverrideMakesTheUnitKnown) {
  TempRoot r;
  r.Write("etc/default/etcd", "ETCD_NAME=m1\n");
  ::setenv("CPR_SYSTEMCTL", "/bin/true", 1);
  EXPECT_EQ(*Choose(r), RuntimeKind::kSystemd);
  ::unsetenv("CPR_SYSTEMCTL");
  EXPECT_FALSE(Choose(r));
}

TEST(RuntimeChoice, SystemdConfigFromUnitDefaultsAndEnvFile) {
  TempRoot r;
  r.Write("etc/hostname", "master-0\n");
  r.Write("etc/default/etcd", "DAEMON_ARGS=\"--name from-args\"\n");
  auto rt = NewSystemdRuntime(Host(r.path()));
  const RuntimeJournal none{[](const std::string&) { return std::string(); }, nullptr, nullptr};
  auto m = rt->Config(none);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->name, "from-args");  // DAEMON_ARGS over the unit's ETCD_NAME=%H
  EXPECT_EQ(m->data_dir, r.path() + "/var/lib/etcd/default");
  r.Write("etc/default/etcd", "ETCD_DATA_DIR=/srv/etcd\n");
  m = rt->Config(none);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->name, "master-0");  // %H: the root's hostname
  EXPECT_EQ(m->data_dir, "/srv/etcd");
  EXPECT_EQ(rt->subject(), "etcd");
}

TEST(RuntimeKindNames, RoundTrip) {
  for (auto k : {RuntimeKind::kAuto, RuntimeKind::kStaticPod, RuntimeKind::kSystemd,
                 RuntimeKind::kProcess}) {
    RuntimeKind back = RuntimeKind::kAuto;
    ASSERT_TRUE(ParseRuntimeKind(RuntimeKindName(k), &back));
    EXPECT_EQ(back, k);
  }
  RuntimeKind k;
  EXPECT_FALSE(ParseRuntimeKind("docker", &k));
}

}  // namespace
}  // namespace cpr::host
