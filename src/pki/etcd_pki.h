// etcd's certificates as OpenShift lays them out, and `cpr pki init`.
//
// Profiles (what the temporary signer also issues; openshift-dr.md §1.4, §2):
//   peer    CN system:etcd-peer:<host>    O system:etcd-peers    serverAuth+clientAuth  etcd CA
//   server  CN system:etcd-server:<host>  O system:etcd-servers  serverAuth+clientAuth  etcd CA
//   metrics CN system:etcd-metric:<host>  O system:etcd-metrics  serverAuth             metric CA
// (server keeps clientAuth because etcd dials its own client port with its
// server certificate, kubecsr PR #22.)
//
// Fixed layout under a directory D:
//   D/ca.{crt,key}                 the etcd CA ("etcd-signer")
//   D/metric-ca.{crt,key}          the metrics CA ("etcd-metric-signer"); the .crt
//                                  holds the metrics CA first, then a copy of the
//                                  etcd CA, so whatever is configured with it (a
//                                  metrics scraper, or by mistake etcd itself) also
//                                  accepts etcd's own certificates. The reverse does
//                                  not hold: ca.crt never trusts the metrics CA, so
//                                  a metrics certificate is never an etcd client.
//   D/<host>/{peer,server,metric}.{crt,key}
//   D/admin.{crt,key}              a client certificate for etcdctl / cpr
// Keys 0600, directories 0700, certificates 0644.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pki/key.h"
#include "util/result.h"

namespace cpr::pki {

enum class Profile { kPeer, kServer, kMetrics };

struct ProfileInfo {
  Profile profile;
  const char* name;          // "peer", "server", "metrics" (the --profile value)
  const char* file_stem;     // "peer", "server", "metric"  (the file name)
  const char* cn_prefix;     // "system:etcd-peer:"
  const char* organization;  // "system:etcd-peers"
  std::vector<std::string> ext_key_usages;
  bool metric_ca;  // signed by the metrics CA
};

const ProfileInfo& GetProfile(Profile profile);
Result<Profile> ParseProfile(std::string_view text, const std::string& where);
std::string ProfileCommonName(Profile profile, const std::string& host);

// A host name as etcd members use them: RFC 1123 labels of [A-Za-z0-9-],
// separated by dots, at most 253 characters; no wildcard.
bool ValidHostName(std::string_view name);
// A literal IPv4 or IPv6 address.
bool ValidIpAddress(const std::string& ip);

struct Host {
  std::string name;
  std::vector<std::string> ips;
};
// "m1=10.0.0.1,m2=10.0.0.2"; a name given twice gets both addresses.
Result<std::vector<Host>> ParseHosts(std::string_view text, const std::string& where);

// The SANs every etcd leaf of a host carries: its name and localhost; its
// addresses and 127.0.0.1.
std::vector<std::string> HostDnsNames(const Host& host);
std::vector<std::string> HostIpAddresses(const Host& host);

// Paths of the layout.
struct EtcdPkiPaths {
  std::string dir;
  std::string CaCert() const { return dir + "/ca.crt"; }
  std::string CaKey() const { return dir + "/ca.key"; }
  std::string MetricCaCert() const { return dir + "/metric-ca.crt"; }
  std::string MetricCaKey() const { return dir + "/metric-ca.key"; }
  std::string AdminCert() const { return dir + "/admin.crt"; }
  std::string AdminKey() const { return dir + "/admin.key"; }
  std::string HostDir(const std::string& host) const { return dir + "/" + host; }
  std::string LeafCert(const std::string& host, Profile p) const;
  std::string LeafKey(const std::string& host, Profile p) const;
};

inline constexpr const char* kEtcdCaName = "etcd-signer";
inline constexpr const char* kMetricCaName = "etcd-metric-signer";
inline constexpr const char* kAdminName = "etcd-admin";

struct Validities {
  int64_t ca = 10 * 365 * 86400;
  int64_t metric_ca = 10 * 365 * 86400;
  int64_t peer = 365 * 86400;
  int64_t server = 365 * 86400;
  int64_t metric = 365 * 86400;
  int64_t admin = 365 * 86400;
};
// "365d" sets every leaf; "peer=30d,ca=5y" sets kinds (ca, metric-ca, peer,
// server, metric, admin). Applied on top of `v`.
Result<void> ParseValidities(std::string_view text, const std::string& where, Validities& v);

struct InitOptions {
  std::string dir;
  std::vector<Host> hosts;
  KeySpec key;
  Validities validity;
  int64_t now = 0;  // unix seconds; 0: the current time
};

struct InitFile {
  std::string path;
  std::string what;      // "etcd CA", "peer certificate of m1", ...
  std::string subject;   // CN
  bool created = false;  // false: an existing CA reused
  int64_t not_after = 0;
};

// Writes the layout. An existing CA pair (crt + matching key) is reused, so
// running it again with a new host adds that host; any other file that
// already exists is never overwritten (kFailedPrecondition, nothing written).
Result<std::vector<InitFile>> InitEtcdPki(const InitOptions& options);

}  // namespace cpr::pki
