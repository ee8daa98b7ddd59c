// Tests for k8s/keys.h: ParseKey over the key layouts of k8s-values.md §6.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "k8s/keys.h"
#include "k8s/value.h"

namespace cpr::k8s {
namespace {

struct Want {
  std::string key, prefix, group, resource, kind, ns, name;
};

void PrintTo(const Want& w, std::ostream* os) { *os << w.key; }

class LayoutTest : public testing::TestWithParam<Want> {};

TEST_P(LayoutTest, Parses) {
  const Want& w = GetParam();
  KeyInfo k = ParseKey(w.key);
  EXPECT_TRUE(k.is_registry);
  EXPECT_EQ(k.prefix, w.prefix);
  EXPECT_EQ(k.group, w.group);
  EXPECT_EQ(k.resource, w.resource);
  EXPECT_EQ(k.kind_hint, w.kind);
  EXPECT_EQ(k.namespace_, w.ns);
  EXPECT_EQ(k.name, w.name);
}

// clang-format off
INSTANTIATE_TEST_SUITE_P(Builtins, LayoutTest, testing::Values(
    // namespaced: <prefix>/<resource>/<ns>/<name>
    Want{"/registry/pods/shop/web-1", "/registry", "", "pods", "Pod", "shop", "web-1"},
    Want{"/registry/configmaps/shop/frontend-config", "/registry", "", "configmaps", "ConfigMap", "shop", "frontend-config"},
    Want{"/registry/deployments/shop/web", "/registry", "", "deployments", "Deployment", "shop", "web"},
    Want{"/registry/leases/kube-node-lease/worker-0.example.internal", "/registry", "", "leases", "Lease", "kube-node-lease", "worker-0.example.internal"},
    Want{"/registry/events/shop/frontend-7d9c5b8f6d-x2kqj.15f9a3c2d1e0b4a7", "/registry", "", "events", "Event", "shop", "frontend-7d9c5b8f6d-x2kqj.15f9a3c2d1e0b4a7"},
    // special prefixes
    Want{"/registry/minions/worker-0.example.internal", "/registry", "", "nodes", "Node", "", "worker-0.example.internal"},
    Want{"/registry/services/specs/shop/web", "/registry", "", "services", "Service", "shop", "web"},
    Want{"/registry/services/endpoints/shop/web", "/registry", "", "endpoints", "Endpoints", "shop", "web"},
    Want{"/registry/controllers/shop/rc-1", "/registry", "", "replicationcontrollers", "ReplicationController", "shop", "rc-1"},
    Want{"/registry/ingress/shop/web", "/registry", "", "ingresses", "Ingress", "shop", "web"},
    Want{"/registry/podsecuritypolicy/restricted", "/registry", "", "podsecuritypolicies", "PodSecurityPolicy", "", "restricted"},
    // "ingresses" is not the special prefix "ingress"
    Want{"/registry/ingresses/shop/web", "/registry", "", "ingresses", "Ingress", "shop", "web"},
    // cluster-scoped: <prefix>/<resource>/<name>
    Want{"/registry/namespaces/default", "/registry", "", "namespaces", "Namespace", "", "default"},
    Want{"/registry/clusterroles/admin", "/registry", "", "clusterroles", "ClusterRole", "", "admin"},
    Want{"/registry/clusterrolebindings/cluster-admin", "/registry", "", "clusterrolebindings", "ClusterRoleBinding", "", "cluster-admin"},
    Want{"/registry/persistentvolumes/pv-1", "/registry", "", "persistentvolumes", "PersistentVolume", "", "pv-1"},
    Want{"/registry/priorityclasses/system-node-critical", "/registry", "", "priorityclasses", "PriorityClass", "", "system-node-critical"},
    Want{"/registry/storageclasses/gp2", "/registry", "", "storageclasses", "StorageClass", "", "gp2"},
    // internals
    Want{"/registry/masterleases/10.0.0.1", "/registry", "", "masterleases", "Endpoints", "", "10.0.0.1"},
    Want{"/registry/ranges/serviceips", "/registry", "", "ranges", "RangeAllocation", "", "serviceips"},
    Want{"/registry/ranges/servicenodeports", "/registry", "", "ranges", "RangeAllocation", "", "servicenodeports"},
    // unknown resources still split
    Want{"/registry/frobs/ns/f", "/registry", "", "frobs", "", "ns", "f"}));

INSTANTIATE_TEST_SUITE_P(Groups, LayoutTest, testing::Values(
    Want{"/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.bench.cpr.io", "/registry", "apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", "", "widgets.bench.cpr.io"},
    Want{"/registry/apiregistration.k8s.io/apiservices/v1.apps", "/registry", "apiregistration.k8s.io", "apiservices", "APIService", "", "v1.apps"},
    Want{"/registry/bench.cpr.io/widgets/shop/frontend-widget", "/registry", "bench.cpr.io", "widgets", "", "shop", "frontend-widget"},
    Want{"/registry/gadgets.example.com/gadgets/big-gadget", "/registry", "gadgets.example.com", "gadgets", "", "", "big-gadget"},
    Want{"/registry/monitoring.coreos.com/prometheuses/openshift-monitoring/k8s", "/registry", "monitoring.coreos.com", "prometheuses", "", "openshift-monitoring", "k8s"}));

INSTANTIATE_TEST_SUITE_P(OpenShift, LayoutTest, testing::Values(
    // OpenShift's kube-apiserver: prefix /kubernetes.io, same layout
    Want{"/kubernetes.io/pods/openshift-etcd/etcd-member-0", "/kubernetes.io", "", "pods", "Pod", "openshift-etcd", "etcd-member-0"},
    Want{"/kubernetes.io/minions/master-0", "/kubernetes.io", "", "nodes", "Node", "", "master-0"},
    Want{"/kubernetes.io/services/specs/default/kubernetes", "/kubernetes.io", "", "services", "Service", "default", "kubernetes"},
    Want{"/kubernetes.io/monitoring.coreos.com/prometheuses/openshift-monitoring/k8s", "/kubernetes.io", "monitoring.coreos.com", "prometheuses", "", "openshift-monitoring", "k8s"},
    Want{"/kubernetes.io/security.openshift.io/securitycontextconstraints/restricted", "/kubernetes.io", "security.openshift.io", "securitycontextconstraints", "", "", "restricted"},
    // openshift-apiserver and oauth-apiserver: prefix /openshift.io
    Want{"/openshift.io/routes/shop/web", "/openshift.io", "", "routes", "Route", "shop", "web"},
    Want{"/openshift.io/imagestreams/openshift/cli", "/openshift.io", "", "imagestreams", "ImageStream", "openshift", "cli"},
    Want{"/openshift.io/users/alice", "/openshift.io", "", "users", "User", "", "alice"},
    Want{"/openshift.io/oauth/accesstokens/sha256~AbC", "/openshift.io", "", "oauthaccesstokens", "OAuthAccessToken", "", "sha256~AbC"},
    Want{"/openshift.io/oauth/clients/console", "/openshift.io", "", "oauthclients", "OAuthClient", "", "console"},
    Want{"/openshift.io/useridentities/htpasswd:alice", "/openshift.io", "", "identities", "Identity", "", "htpasswd:alice"},
    Want{"/openshift.io/registry/sdnnetworks/default", "/openshift.io", "", "clusternetworks", "ClusterNetwork", "", "default"},
    Want{"/openshift.io/registry/sdnsubnets/worker-0", "/openshift.io", "", "hostsubnets", "HostSubnet", "", "worker-0"},
    Want{"/openshift.io/registry/sdnnetnamespaces/shop", "/openshift.io", "", "netnamespaces", "NetNamespace", "", "shop"},
    Want{"/openshift.io/registry/egressnetworkpolicy/shop/default", "/openshift.io", "", "egressnetworkpolicies", "EgressNetworkPolicy", "shop", "default"},
    Want{"/openshift.io/authorization/local/policies/shop/default", "/openshift.io", "", "policies", "Policy", "shop", "default"},
    Want{"/openshift.io/authorization/cluster/policies/default", "/openshift.io", "", "clusterpolicies", "ClusterPolicy", "", "default"},
    Want{"/openshift.io/quota.openshift.io/clusterresourcequotas/q1", "/openshift.io", "quota.openshift.io", "clusterresourcequotas", "ClusterResourceQuota", "", "q1"},
    // special prefixes belong to their server: none of these is special here
    Want{"/registry/oauth/accesstokens/x", "/registry", "", "oauth", "", "accesstokens", "x"},
    Want{"/openshift.io/minions/x", "/openshift.io", "", "minions", "", "", "x"}));

INSTANTIATE_TEST_SUITE_P(Shapes, LayoutTest, testing::Values(
    Want{"/registry", "/registry", "", "", "", "", ""},
    Want{"/registry/", "/registry", "", "", "", "", ""},
    Want{"/registry/pods", "/registry", "", "pods", "Pod", "", ""},
    Want{"/registry/pods/", "/registry", "", "pods", "Pod", "", ""},
    Want{"/registry/services/specs", "/registry", "", "services", "Service", "", ""},
    Want{"/registry/example.com", "/registry", "example.com", "", "", "", ""},
    // names cannot contain '/': more segments all go to the name
    Want{"/registry/pods/a/b/c", "/registry", "", "pods", "Pod", "a", "b/c"},
    Want{"/registry/pods//n", "/registry", "", "pods", "Pod", "", "n"}));
// clang-format on

TEST(ParseKeyTest, NotRegistryKeys) {
  for (const char* key : {"compact_rev_key", "", "/", "registry/pods/a/b", "/registryX/pods/a",
                          "/foo/bar", "/openshift.iox/routes/a/b", "/Registry/pods/a/b"}) {
    KeyInfo k = ParseKey(key);
    EXPECT_FALSE(k.is_registry) << key;
    EXPECT_EQ(k.prefix, "") << key;
    EXPECT_EQ(k.resource, "") << key;
    EXPECT_EQ(k.name, "") << key;
  }
}

TEST(ParseKeyTest, BinaryKeys) {
  std::string nul_key("/registry/pods/n\0s/na\xffme", 24);
  KeyInfo k = ParseKey(nul_key);
  EXPECT_TRUE(k.is_registry);
  EXPECT_EQ(k.namespace_, std::string("n\0s", 3));
  EXPECT_EQ(k.name, "na\xffme");

  std::mt19937 rng(11);
  for (int round = 0; round < 5000; ++round) {
    std::string key = round % 2 ? "/registry/" : "";
    for (int n = rng() % 40; n > 0; --n) key += static_cast<char>(rng() % 4 ? rng() : '/');
    KeyInfo info = ParseKey(key);
    if (round % 2) {
      EXPECT_TRUE(info.is_registry);
      // What it reports comes from the key.
      EXPECT_NE(key.find(info.name), std::string::npos);
      EXPECT_NE(key.find(info.namespace_), std::string::npos);
      EXPECT_TRUE(key.ends_with(info.name));
    }
  }
}

// The samples' keys (from their .txt) agree with what their values say.
std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(CPR_FIXTURES) + "/k8s/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ParseKeyTest, SampleKeysMatchTheirValues) {
  for (std::string sample : {"pod", "configmap", "secret", "node", "lease", "event"}) {
    std::string txt = ReadFixture(sample + ".txt");
    ASSERT_TRUE(txt.starts_with("key:   ")) << sample;
    std::string key = txt.substr(7, txt.find('\n') - 7);
    KeyInfo k = ParseKey(key);
    Object o = DescribeValue(ReadFixture(sample + ".bin"));
    EXPECT_TRUE(k.is_registry) << key;
    EXPECT_EQ(k.kind_hint, o.kind) << key;
    EXPECT_EQ(k.namespace_, o.namespace_) << key;
    EXPECT_EQ(k.name, o.name) << key;
  }
  std::string widget_txt = ReadFixture("widget-cr.txt");
  KeyInfo w = ParseKey(widget_txt.substr(7, widget_txt.find('\n') - 7));
  Object o = DescribeValue(ReadFixture("widget-cr.json"));
  EXPECT_EQ(w.group + "/v1", o.api_version);
  EXPECT_EQ(w.namespace_, o.namespace_);
  EXPECT_EQ(w.name, o.name);
}

}  // namespace
}  // namespace cpr::k8s
