// The membership of a restored cluster, computed as etcd 3.4's etcdctl
// computes it (etcd-formats.md §5.1, §5.2): the --initial-cluster map, member
// IDs (SHA-1 of sorted peer URLs + token), the cluster ID, and the member
// JSON that goes into the WAL, with Go's escaping (§5.6.4).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::etcd {

struct ClusterMember {
  std::string name;
  std::vector<std::string> peer_urls;  // sorted by string
  uint64_t id = 0;
};

struct Membership {
  std::vector<ClusterMember> members;  // ascending id (the order restore uses)
  uint64_t cluster_id = 0;
  size_t local = 0;  // index of --name in members
  const ClusterMember& me() const { return members[local]; }
};

// Validates and computes everything from etcdctl's flags. Refuses, with the
// flag named: a name missing from the cluster, an advertise URL list that
// differs from the cluster's URLs for that name, duplicate URLs, malformed
// URLs (only scheme://host:port with http, https, unix, unixs), duplicate IDs.
Result<Membership> ComputeMembership(const std::string& initial_cluster, const std::string& token,
                                     const std::string& name,
                                     const std::string& advertise_peer_urls);

uint64_t MemberIdFor(const std::vector<std::string>& sorted_peer_urls, const std::string& token);
uint64_t ClusterIdFor(std::vector<uint64_t> ids);

// Go encoding/json string literal (with quotes) of `s` (§5.6.4).
std::string GoJsonString(const std::string& s);
// `{"id":N,"peerURLs":[...],"name":"..."}` as json.Marshal writes a member.
std::string MemberJson(const ClusterMember& m);
// `{"peerURLs":[...]}`: the raftAttributes value in the v2 store.
std::string RaftAttributesJson(const ClusterMember& m);

}  // namespace cpr::etcd
