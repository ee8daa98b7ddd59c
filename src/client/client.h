// Client: etcd's v3 gRPC API (KV, Maintenance, Cluster, Auth.Authenticate)
// over Debian's gRPC C++, with mutual TLS, several endpoints and timeouts
// that etcdctl users know (--dial-timeout, --command-timeout).
//
// Calls come in two kinds:
//  * cluster-wide (KV, members, alarms): tried on each configured endpoint
//    in turn until one answers (failover). Reads move on after any transport
//    failure; writes only when the endpoint could not be reached at all, so
//    a write that may have been applied is never sent twice.
//  * per-endpoint (Status, HashKV, Defragment, Snapshot, Health): about one
//    member, named by an endpoint string in etcdctl's syntax; endpoints
//    outside the configured list (member list client URLs) are allowed.
//
// Every failure is an Error whose `where` is "endpoint <text>" and whose
// `what` says why: connection refused, TLS (which side rejected what),
// authentication, timed out (and which timeout), no leader, or etcd's own
// message. Nothing waits longer than dial-timeout to connect plus
// command-timeout per call (Snapshot: command-timeout without progress).
//
// Thread-safety: a Client may be used from several threads at once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/endpoint.h"
#include "client/types.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cpr::client {

class Client {
 public:
  // Checks the configuration and reads the TLS files (an unreadable file is
  // kInvalidArgument naming its flag); connects lazily, on first use.
  static Result<std::unique_ptr<Client>> Create(Config config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Config& config() const;

  // ---- cluster-wide, with failover ----
  Result<RangeResponse> Range(const RangeRequest& request);
  Result<PutResponse> Put(const PutRequest& request);
  Result<DeleteRangeResponse> DeleteRange(const DeleteRangeRequest& request);
  Result<TxnResponse> Txn(const TxnRequest& request);

  Result<MembersResponse> MemberList();
  Result<MemberAddResponse> MemberAdd(const std::vector<std::string>& peer_urls, bool learner);
  Result<MembersResponse> MemberRemove(uint64_t id);
  Result<MembersResponse> MemberUpdate(uint64_t id, const std::vector<std::string>& peer_urls);
  Result<MembersResponse> MemberPromote(uint64_t id);

  Result<AlarmResponse> AlarmList();
  // Deactivates every alarm, as `etcdctl alarm disarm` does.
  Result<AlarmResponse> AlarmDisarm();

  // ---- one member ----
  Result<StatusResponse> Status(const std::string& endpoint);
  Result<HashKVResponse> HashKV(const std::string& endpoint, int64_t revision);
  Result<void> Defragment(const std::string& endpoint);
  // etcdctl's health check: a linearizable Range of key "health" on that
  // endpoint alone ("permission denied" counts as healthy: it went through
  // consensus).
  Result<void> Health(const std::string& endpoint);

  struct SnapshotInfo {
    uint64_t db_size = 0;  // bytes of the bbolt image (without etcd's SHA-256)
    uint64_t bytes = 0;    // everything received: db + 32 trailer bytes
  };
  // Streams the member's backend. `sink` gets every received byte in order:
  // the db (total announced by the first message: `db_size`), then etcd's
  // 32-byte SHA-256 of it. A sink error or `cancel` becoming true stops the
  // stream; no bytes for command-timeout is a timeout error. Checks that
  // the byte count matches the announced size; the SHA-256 is the caller's.
  Result<SnapshotInfo> Snapshot(
      const std::string& endpoint,
      const std::function<Result<void>(Bytes chunk, uint64_t db_size)>& sink,
      const std::atomic<bool>* cancel = nullptr);

 private:
  Client();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cpr::client
