// Tests for host/pod_manifest.h and host/probe.h: Pod YAML written and read
// back, etcd's manifest shape, flags, URL splitting.
#include <gtest/gtest.h>

#include "host/pod_manifest.h"
#include "host/probe.h"

namespace cpr::host {
namespace {

TEST(PodManifest, EtcdMemberRoundTrips) {
  EtcdMemberSpec s;
  s.name = "m1";
  s.ip = "127.0.0.11";
  s.data_dir = "/var/lib/etcd";
  s.cert_dir = "/etc/ssl/etcd";
  s.initial_cluster = "m1=https://127.0.0.11:2380,m2=https://127.0.0.12:2380";
  s.initial_cluster_token = "tok";
  const PodManifest pod = EtcdMemberManifest(s);
  const std::string yaml = RenderPodManifest(pod);
  auto back = ParsePodManifest(yaml, "test");
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->name, "etcd-member-m1");
  EXPECT_TRUE(back->RunsEtcd());
  EXPECT_EQ(back->command, pod.command);
  EXPECT_EQ(back->env, pod.env);
  EXPECT_EQ(back->volumes, pod.volumes);
  EXPECT_EQ(back->Flag("--name"), "m1");
  EXPECT_EQ(back->Flag("--initial-cluster"), s.initial_cluster);
  EXPECT_EQ(back->Flag("--advertise-client-urls"), "https://127.0.0.11:2379");
  EXPECT_EQ(back->Flag("--initial-advertise-peer-urls"), "https://127.0.0.11:2380");
  EXPECT_EQ(back->Flag("--trusted-ca-file"), "/etc/ssl/etcd/ca.crt");
  EXPECT_EQ(back->Flag("--absent"), "");
  // mutual TLS on both ports
  bool client_auth = false, peer_auth = false;
  for (const auto& a : back->command) {
    client_auth = client_auth || a == "--client-cert-auth";
    peer_auth = peer_auth || a == "--peer-client-cert-auth";
  }
  EXPECT_TRUE(client_auth && peer_auth);
}

TEST(PodManifest, ReadsOpenShiftShapes) {
  // command + args, env, hostPath volumes; labels; a flag given as --flag=value
  const char* yaml = R"(apiVersion: v1
kind: Pod
metadata:
  name: etcd-member
  namespace: openshift-etcd
  labels: {k8s-app: etcd}
spec:
  hostNetwork: true
  containers:
  - name: etcd-member
    image: quay.io/openshift/etcd
    command: ["/usr/bin/etcd"]
    args: ["--name=etcd-member-m1", "--data-dir", "/var/lib/etcd"]
    env:
    - name: ETCDCTL_API
      value: "3"
  volumes:
  - name: data-dir
    hostPath: {path: /var/lib/etcd}
  - name: empty
    emptyDir: {}
)";
  auto pod = ParsePodManifest(yaml, "etcd-member.yaml");
  ASSERT_TRUE(pod) << pod.error().ToString();
  EXPECT_TRUE(pod->RunsEtcd());
  EXPECT_EQ(pod->Flag("--name"), "etcd-member-m1");
  EXPECT_EQ(pod->Flag("--data-dir"), "/var/lib/etcd");
  ASSERT_EQ(pod->volumes.size(), 1u);
  EXPECT_EQ(pod->volumes[0].second, "/var/lib/etcd");
  ASSERT_EQ(pod->labels.size(), 1u);
}

TEST(PodManifest, RefusesWhatIsNotAPod) {
  EXPECT_FALSE(ParsePodManifest("kind: Deployment\nmetadata: {name: x}\n", "x"));
  EXPECT_FALSE(ParsePodManifest("kind: Pod\nmetadata: {name: x}\nspec: {}\n", "x"));
  EXPECT_FALSE(
      ParsePodManifest("kind: Pod\nmetadata: {}\nspec: {containers: [{command: [sleep]}]}\n", "x"));
  EXPECT_FALSE(ParsePodManifest("kind: Pod\n  bad: [\n", "x"));
  EXPECT_FALSE(ParsePodManifest("", "x"));
  auto r = ParsePodManifest("- a\n- b\n", "list.yaml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().ToString().find("list.yaml"), std::string::npos);
}

TEST(Probe, SplitsUrls) {
  std::string h;
  int port = 0;
  ASSERT_TRUE(SplitUrl("https://127.0.0.12:2380", &h, &port));
  EXPECT_EQ(h, "127.0.0.12");
  EXPECT_EQ(port, 2380);
  ASSERT_TRUE(SplitUrl("http://[::1]:2379/", &h, &port));
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(port, 2379);
  ASSERT_TRUE(SplitUrl("10.0.0.1:2379", &h, &port));
  for (const char* bad :
       {"not-a-url", "https://host:", "https://host:99999", "https://:80", "https://h:12a"})
    EXPECT_FALSE(SplitUrl(bad, &h, &port)) << bad;
  // a name is never resolved: a probe must not wait on DNS
  EXPECT_FALSE(TcpAnswers("https://localhost:1", 50));
}

}  // namespace
}  // namespace cpr::host
