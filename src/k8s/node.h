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

}  // namespace cpr::k8s
