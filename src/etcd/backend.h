// Backend: etcd 3.4's storage schema over a bbolt file (etcd-formats.md §2).
//
// Read-only accessors for the small buckets (meta, members, cluster, auth,
// lease, alarm) and an ordered scan of the `key` bucket's revisions. Missing
// buckets are tolerated (§2.1): accessors return empty results.
//
// Lifetime: Bytes in results point into the file and live as long as the
// Backend.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bolt/reader.h"
#include "etcd/records.h"
#include "etcd/revision.h"

namespace cpr::etcd {

// Bucket names (§2.1).
inline constexpr std::string_view kKeyBucket = "key";
inline constexpr std::string_view kMetaBucket = "meta";
inline constexpr std::string_view kLeaseBucket = "lease";
inline constexpr std::string_view kMembersBucket = "members";
inline constexpr std::string_view kMembersRemovedBucket = "members_removed";
inline constexpr std::string_view kClusterBucket = "cluster";
inline constexpr std::string_view kAuthBucket = "auth";
inline constexpr std::string_view kAuthUsersBucket = "authUsers";
inline constexpr std::string_view kAuthRolesBucket = "authRoles";
inline constexpr std::string_view kAlarmBucket = "alarm";
// etcd 3.4 creates exactly these, and each exists in every db it wrote, in
// this (byte) order (§2.1).
inline constexpr std::string_view kEtcdBuckets[] = {
    kAlarmBucket, kAuthBucket,  kAuthRolesBucket, kAuthUsersBucket,      kClusterBucket,
    kKeyBucket,   kLeaseBucket, kMembersBucket,   kMembersRemovedBucket, kMetaBucket};
// Of those, the ones whose loss loses no data: a restore writes them anew
// (members, members_removed and cluster come from the new membership; an
// alarm is raised again by the member that hits it).
bool IsDerivableBucket(std::string_view name);

// meta bucket (§2.3).
struct MetaInfo {
  std::optional<uint64_t> consistent_index;
  int64_t finished_compact = 0;  // 0: never compacted
  int64_t scheduled_compact = 0;
};

struct AuthInfo {
  bool enabled = false;
  uint64_t revision = 0;
  std::vector<std::string> users;
  std::vector<std::string> roles;
};

class Backend {
 public:
  static Result<std::unique_ptr<Backend>> Open(const std::string& path,
                                               const bolt::Reader::Options& options);
  static Result<std::unique_ptr<Backend>> Open(const std::string& path) {
    return Open(path, bolt::Reader::Options{});
  }

  static std::unique_ptr<Backend> Over(std::unique_ptr<bolt::Reader> reader);

  const bolt::Reader& reader() const { return *reader_; }
  const std::string& name() const { return reader_->name(); }

  // Calls fn(key, value) for each element of a top-level bucket in key
  // order; fn returns false to stop. A missing bucket visits nothing.
  Result<void> ForEach(std::string_view bucket,
                       const std::function<Result<bool>(Bytes key, Bytes value)>& fn) const;
  // One value of a top-level bucket; nullopt when the bucket or key is absent.
  Result<std::optional<Bytes>> Get(std::string_view bucket, Bytes key) const;

  Result<MetaInfo> Meta() const;
  Result<std::vector<Member>> Members() const;
  Result<std::vector<uint64_t>> RemovedMembers() const;
  Result<std::string> ClusterVersion() const;  // "" when absent
  Result<AuthInfo> Auth() const;
  Result<std::vector<Lease>> Leases() const;
  Result<std::vector<Alarm>> Alarms() const;

  // The newest revision in the `key` bucket (0 when empty or missing).
  Result<Revision> LatestRevision() const;

  // Visits the `key` bucket in revision order, starting at `from` (main
  // revision), calling fn(revision, record bytes); fn returns false to stop.
  // A key that is not a revision key is a Corrupt error naming its page.
  Result<void> ScanRevisions(int64_t from,
                             const std::function<Result<bool>(const Revision&, Bytes)>& fn) const;

 private:
  Backend() = default;
  std::unique_ptr<bolt::Reader> reader_;
};

}  // namespace cpr::etcd
