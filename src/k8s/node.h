// A Node object as kube-apiserver stores it (`/registry/minions/<name>`,
// `k8s\0` protobuf, k8s-values.md §2): its name and status.addresses, what
// the recovery API's node policy needs to know a node (issue 11 item 3).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/bytes.h"

namespace cpr::k8s {

struct NodeAddresses {
  std::string name;
  // status.addresses as (type, address): ("InternalIP", "10.0.3.48"),
  // ("Hostname", "worker-0"), ("ExternalIP"|"InternalDNS"|"ExternalDNS", ...).
  std::vector<std::pair<std::string, std::string>> addresses;
};

// nullopt when `value` is not a readable protobuf v1 Node.
//   Node {1 metadata, 2 spec, 3 status}; NodeStatus {5 addresses*};
//   NodeAddress {1 type, 2 address}
std::optional<NodeAddresses> DecodeNode(Bytes value);

// The value kube-apiserver would store for a Node with this name and these
// status addresses (what `cpr lab` registers for its hosts): the `k8s\0`
// envelope, runtime.Unknown {1 TypeMeta{1 apiVersion, 2 kind}, 2 raw,
// 3 contentEncoding, 4 contentType} (empty strings written, as gogoproto
// does), raw = Node {1 ObjectMeta{1 name, 5 uid}, 2 spec, 3 status}.
std::string EncodeNode(const NodeAddresses& node, const std::string& uid);

}  // namespace cpr::k8s
