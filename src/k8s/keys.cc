// ParseKey: the key layout of k8s-values.md §6, driven by three tables
// (special prefixes, kinds of built-in resources, kinds of group-qualified
// ones). Only string_view slicing; nothing here can read past the key.
#include "k8s/keys.h"

#include <string_view>

namespace cpr::k8s {

namespace {

using std::string_view;

constexpr string_view kKubePrefixes[] = {"/registry", "/kubernetes.io"};
constexpr string_view kOpenShiftPrefix = "/openshift.io";

struct Mapping {
  string_view from, to;
};

// Storage prefixes that differ from the resource name.
// kube-apiserver: SpecialDefaultResourcePrefixes (§6).
constexpr Mapping kKubeSpecialPrefixes[] = {
    {"minions", "nodes"},
    {"services/specs", "services"},
    {"services/endpoints", "endpoints"},
    {"controllers", "replicationcontrollers"},
    {"ingress", "ingresses"},
    {"podsecuritypolicy", "podsecuritypolicies"},  // until 1.25
};
// openshift-apiserver and oauth-apiserver, under /openshift.io (§6;
// openshift-apiserver's specialDefaultResourcePrefixes).
constexpr Mapping kOpenShiftSpecialPrefixes[] = {
    {"oauth/accesstokens", "oauthaccesstokens"},
    {"oauth/authorizetokens", "oauthauthorizetokens"},
    {"oauth/clients", "oauthclients"},
    {"oauth/clientauthorizations", "oauthclientauthorizations"},
    {"useridentities", "identities"},
    {"registry/sdnnetworks", "clusternetworks"},
    {"registry/sdnsubnets", "hostsubnets"},
    {"registry/sdnnetnamespaces", "netnamespaces"},
    {"registry/egressnetworkpolicy", "egressnetworkpolicies"},
    {"authorization/local/policies", "policies"},  // 3.x, legacy
    {"authorization/local/policybindings", "policybindings"},
    {"authorization/cluster/policies", "clusterpolicies"},
    {"authorization/cluster/policybindings", "clusterpolicybindings"},
};

// Resource -> Kind for resources stored without a group in the key.
constexpr Mapping kKubeKinds[] = {
    {"pods", "Pod"},
    {"nodes", "Node"},
    {"services", "Service"},
    {"endpoints", "Endpoints"},
    {"replicationcontrollers", "ReplicationController"},
    {"configmaps", "ConfigMap"},
    {"secrets", "Secret"},
    {"serviceaccounts", "ServiceAccount"},
    {"events", "Event"},
    {"namespaces", "Namespace"},
    {"persistentvolumes", "PersistentVolume"},
    {"persistentvolumeclaims", "PersistentVolumeClaim"},
    {"limitranges", "LimitRange"},
    {"resourcequotas", "ResourceQuota"},
    {"podtemplates", "PodTemplate"},
    {"deployments", "Deployment"},
    {"replicasets", "ReplicaSet"},
    {"daemonsets", "DaemonSet"},
    {"statefulsets", "StatefulSet"},
    {"controllerrevisions", "ControllerRevision"},
    {"jobs", "Job"},
    {"cronjobs", "CronJob"},
    {"horizontalpodautoscalers", "HorizontalPodAutoscaler"},
    {"leases", "Lease"},
    {"roles", "Role"},
    {"rolebindings", "RoleBinding"},
    {"clusterroles", "ClusterRole"},
    {"clusterrolebindings", "ClusterRoleBinding"},
    {"ingresses", "Ingress"},
    {"ingressclasses", "IngressClass"},
    {"networkpolicies", "NetworkPolicy"},
    {"podsecuritypolicies", "PodSecurityPolicy"},
    {"poddisruptionbudgets", "PodDisruptionBudget"},
    {"priorityclasses", "PriorityClass"},
    {"storageclasses", "StorageClass"},
    {"volumeattachments", "VolumeAttachment"},
    {"csidrivers", "CSIDriver"},
    {"csinodes", "CSINode"},
    {"certificatesigningrequests", "CertificateSigningRequest"},
    {"mutatingwebhookconfigurations", "MutatingWebhookConfiguration"},
    {"validatingwebhookconfigurations", "ValidatingWebhookConfiguration"},
    {"runtimeclasses", "RuntimeClass"},
    {"endpointslices", "EndpointSlice"},
    {"masterleases", "Endpoints"},  // lease endpoint reconciler: /masterleases/<ip>
    {"ranges", "RangeAllocation"},  // ranges/serviceips, ranges/servicenodeports
    {"securitycontextconstraints", "SecurityContextConstraints"},  // OpenShift 3.x
};
constexpr Mapping kOpenShiftKinds[] = {
    {"routes", "Route"},
    {"imagestreams", "ImageStream"},
    {"images", "Image"},
    {"builds", "Build"},
    {"buildconfigs", "BuildConfig"},
    {"deploymentconfigs", "DeploymentConfig"},
    {"templates", "Template"},
    {"templateinstances", "TemplateInstance"},
    {"brokertemplateinstances", "BrokerTemplateInstance"},
    {"oauthaccesstokens", "OAuthAccessToken"},
    {"oauthauthorizetokens", "OAuthAuthorizeToken"},
    {"oauthclients", "OAuthClient"},
    {"oauthclientauthorizations", "OAuthClientAuthorization"},
    {"users", "User"},
    {"identities", "Identity"},
    {"groups", "Group"},
    {"clusternetworks", "ClusterNetwork"},
    {"hostsubnets", "HostSubnet"},
    {"netnamespaces", "NetNamespace"},
    {"egressnetworkpolicies", "EgressNetworkPolicy"},
    {"rolebindingrestrictions", "RoleBindingRestriction"},
    {"policies", "Policy"},
    {"policybindings", "PolicyBinding"},
    {"clusterpolicies", "ClusterPolicy"},
    {"clusterpolicybindings", "ClusterPolicyBinding"},
};
// "<group>/<resource>" -> Kind for group-qualified keys known here.
constexpr Mapping kGroupKinds[] = {
    {"apiextensions.k8s.io/customresourcedefinitions", "CustomResourceDefinition"},
    {"apiregistration.k8s.io/apiservices", "APIService"},
    {"quota.openshift.io/clusterresourcequotas", "ClusterResourceQuota"},
};

template <size_t N>
string_view Lookup(const Mapping (&table)[N], string_view from) {
  for (const Mapping& m : table) {
    if (m.from == from) return m.to;
  }
  return {};
}

// True when `path` is `head` or starts with `head` + "/"; then `rest` is
// what follows the slash (empty if none).
bool CutSegments(string_view path, string_view head, string_view& rest) {
  if (!path.starts_with(head)) return false;
  if (path.size() == head.size()) {
    rest = {};
    return true;
  }
  if (path[head.size()] != '/') return false;
  rest = path.substr(head.size() + 1);
  return true;
}

// Cuts the first '/'-separated segment off `path`.
string_view FirstSegment(string_view& path) {
  size_t slash = path.find('/');
  string_view seg = path.substr(0, slash);
  path = slash == string_view::npos ? string_view() : path.substr(slash + 1);
  return seg;
}

// Fills group, resource and kind_hint from the start of `path` (what follows
// the prefix) and returns what follows the resource prefix.
template <size_t N, size_t M>
string_view ParseResource(string_view path, const Mapping (&specials)[N], const Mapping (&kinds)[M],
                          KeyInfo& info) {
  string_view rest;
  for (const Mapping& special : specials) {
    if (CutSegments(path, special.from, rest)) {
      info.resource = special.to;
      info.kind_hint = Lookup(kinds, special.to);
      return rest;
    }
  }
  rest = path;
  string_view first = FirstSegment(rest);
  if (first.find('.') != string_view::npos) {  // a group: <group>/<plural>/...
    info.group = first;
    info.resource = FirstSegment(rest);
    std::string group_resource = info.group + "/" + info.resource;
    info.kind_hint = Lookup(kGroupKinds, group_resource);
    return rest;
  }
  info.resource = first;
  info.kind_hint = Lookup(kinds, first);
  return rest;
}

}  // namespace

KeyInfo ParseKey(Bytes key) {
  KeyInfo info;
  string_view path;
  bool openshift = CutSegments(key, kOpenShiftPrefix, path);
  string_view prefix = openshift ? kOpenShiftPrefix : string_view();
  for (string_view p : kKubePrefixes) {
    if (prefix.empty() && CutSegments(key, p, path)) prefix = p;
  }
  if (prefix.empty()) return info;  // e.g. compact_rev_key
  info.is_registry = true;
  info.prefix = prefix;
  string_view rest = openshift
                         ? ParseResource(path, kOpenShiftSpecialPrefixes, kOpenShiftKinds, info)
                         : ParseResource(path, kKubeSpecialPrefixes, kKubeKinds, info);
  // [<namespace>/]<name>: one segment is a cluster-scoped name.
  size_t slash = rest.find('/');
  if (slash == string_view::npos) {
    info.name = rest;
  } else {
    info.namespace_ = rest.substr(0, slash);
    info.name = rest.substr(slash + 1);
  }
  return info;
}

}  // namespace cpr::k8s
