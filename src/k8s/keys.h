// What an etcd key says about the Kubernetes object under it.
//
// The API servers lay keys out as <prefix>/<resource prefix>/[<ns>/]<name>
// (k8s-values.md §6): prefix /registry upstream, /kubernetes.io for
// OpenShift's kube-apiserver, /openshift.io for openshift-apiserver and
// oauth-apiserver; a few resources have special prefixes (minions,
// services/specs, oauth/accesstokens, ...), and custom resources and other
// group-qualified storage put the group first: <prefix>/<group>/<plural>/...
//
// Promises: ParseKey accepts any bytes and never fails; it only reads the
// key's text, so a key it does not recognise just gives is_registry = false.
// Strings are copied from the key as they are (not UTF-8 checked).
#pragma once

#include <string>

#include "util/bytes.h"

namespace cpr::k8s {

struct KeyInfo {
  bool is_registry = false;  // under a known prefix (/registry, /kubernetes.io, /openshift.io)
  std::string prefix;        // "/registry"
  std::string group;         // from the key, when the key has one ("example.com"); else empty
  std::string resource;      // plural resource, special prefixes undone: "minions" -> "nodes"
  std::string kind_hint;     // "Pod", "Node", "Endpoints"... for resources known here, else empty
  std::string namespace_, name;
};

// Splits `key` per §6. For a registry key: the segment after the resource
// is the name when it is the last one (cluster-scoped), else the namespace,
// and the rest is the name. Keys outside the known prefixes, such as
// `compact_rev_key` (which holds a revision, not an object), give a KeyInfo
// with is_registry = false and nothing else set.
KeyInfo ParseKey(Bytes key);

}  // namespace cpr::k8s
